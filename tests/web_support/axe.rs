//! Accessibility: axe-core (the npm package `axe-core`, which `scripts/test.sh` fetches and names in
//! `CARTABLE_TEST_AXE`) run on the page a browser test shows. Serious and critical violations fail the test;
//! without the script the check is skipped with a message.

use thirtyfour::prelude::*;

/// Runs axe-core on the page `driver` shows (named `page` in the failure).
pub async fn check(driver: &WebDriver, page: &str) {
    let Some(path) = std::env::var("CARTABLE_TEST_AXE").ok().filter(|p| !p.is_empty()) else {
        eprintln!("accessibility check of {page} skipped: CARTABLE_TEST_AXE is not set (scripts/test.sh fetches axe-core and sets it)");
        return;
    };
    let script = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read axe-core at {path}: {e}"));
    // A script run by WebDriver is not the page's: the page's Content-Security-Policy does not apply to it.
    driver.execute(&script, Vec::new()).await.expect("axe-core loads");
    let found = driver
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ': ' + v.help + ' (' + v.nodes.map(n => n.target.join(' ')).join(', ') + ')')))
               .catch(e => done(['axe-core failed: ' + e]));",
            Vec::new(),
        )
        .await
        .expect("axe-core runs");
    let violations: Vec<String> = serde_json::from_value(found.json().clone()).expect("a list of violations");
    assert!(violations.is_empty(), "{page}: serious or critical accessibility violations: {violations:#?}");
}

/// The Content-Security-Policy violations the browser's console reported since the last call (the session needs
/// `caps.set_browser_log_level(LoggingPrefsLogLevel::All)`); panics naming them.
pub async fn no_csp_violation(driver: &WebDriver, page: &str) {
    let entries = driver.browser_log().await.expect("the browser's console log");
    let violations: Vec<String> = entries.into_iter().map(|e| e.message).filter(|m| m.contains("Content Security Policy")).collect();
    assert!(violations.is_empty(), "{page}: the console reports CSP violations: {violations:#?}");
}
