//! The consent ledger arithmetic: filled by the ledger work.
