"""A real SMTP server for the tests: aiosmtpd (PyPI) offering STARTTLS with a throwaway CA made by trustme, on
127.0.0.1:SMTP_PORT. Writes the CA's certificate to SMTP_CA_FILE (Cartable is given it as smtp_ca_file) and each
message received to SMTP_MAILDIR as <seq>.json ({mail_from, rcpt_tos, data}), whole (written, then renamed).
Prints `ready` once listening; stops on SIGTERM. Installed by scripts/test.sh into target/tools/."""

import json
import os
import signal
import ssl
import threading
import time

import trustme
from aiosmtpd.controller import Controller

port = int(os.environ["SMTP_PORT"])
maildir = os.environ["SMTP_MAILDIR"]
ca_file = os.environ["SMTP_CA_FILE"]

# The same CA across restarts of one test (the "SMTP down, then back" case): made once, kept beside the CA file.
key_file = ca_file + ".server.pem"
if not os.path.exists(key_file):
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(ca_file)
    cert.private_key_and_cert_chain_pem.write_to_path(key_file)
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(key_file)


class Keep:
    """Keeps every message as a file of its own, numbered in the order received (across restarts too)."""

    def __init__(self):
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            seq = len([n for n in os.listdir(maildir) if n.endswith(".json")]) + 1
            path = os.path.join(maildir, f"{seq:05}.json")
            with open(path + ".tmp", "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "data": envelope.content.decode("utf-8", "replace")}, f)
            os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


controller = Controller(Keep(), hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True)
controller.start()
print("ready", flush=True)
stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
try:
    while not stopped.is_set():
        time.sleep(0.2)
finally:
    controller.stop()
