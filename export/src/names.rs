//! Entry paths: what the writer may write and the reader accepts, one rule for both.

/// Checks an entry path: relative, `/`-separated components, none empty, `.` or `..`, no backslash, no control
/// character, no drive letter (`C:`) first, at most 1,024 bytes. Returns what is wrong.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > 1024 {
        return Err("an empty or over-long path");
    }
    if path.starts_with('/') {
        return Err("an absolute path");
    }
    if path.contains('\\') {
        return Err("a backslash in a path");
    }
    if path.chars().any(char::is_control) {
        return Err("a control character in a path");
    }
    let mut components = path.split('/');
    if let Some(first) = path.split('/').next() {
        let bytes = first.as_bytes();
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return Err("a drive letter in a path");
        }
    }
    if components.any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("an empty, `.` or `..` component in a path");
    }
    Ok(())
}

/// A file's original name as one safe path component: the name itself when it is one, else with what would make
/// it unsafe replaced (`/` and `\` by `_`, control characters dropped, `.` and `..` prefixed by `_`).
pub fn file_component(name: &str) -> String {
    let mut out: String = name.chars().filter(|c| !c.is_control()).map(|c| if c == '/' || c == '\\' { '_' } else { c }).collect();
    if out.is_empty() || out == "." || out == ".." {
        out.insert(0, '_');
    }
    let bytes = out.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        out.insert(0, '_');
    }
    // Long names cut at a character boundary (a file system's 255 bytes).
    while out.len() > 200 {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused_and_file_names_made_safe() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "C:/x", "c:x", "a/./b", "a/\u{0}b", "a/"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        for good in ["manifest.json", "children/0193/edu.grades/records.jsonl", "children/c/edu.documents/files/r/Bulletin T1 : maths.pdf"] {
            assert!(check_path(good).is_ok(), "{good:?}");
        }
        for name in ["..", ".", "a/b", "a\\b", "C:boot.ini", "", "\u{7}bell.txt", &"é".repeat(200)] {
            let safe = file_component(name);
            assert!(check_path(&format!("files/{safe}")).is_ok() && check_path(&safe).is_ok(), "{name:?} → {safe:?}");
        }
        assert_eq!(file_component("Bulletin T1.pdf"), "Bulletin T1.pdf");
    }
}
