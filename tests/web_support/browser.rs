//! What the browser tests share: a headless Chromium through Debian's chromedriver (`CARTABLE_TEST_WEBDRIVER`, set
//! by `scripts/test.sh`), screenshots of a page at a phone's and a desktop's size in `target/screenshots/`, each
//! followed by its accessibility check and a look at the console for CSP violations, and the small steps of a story.

use std::path::PathBuf;
use std::time::Duration;

use thirtyfour::prelude::*;

/// The phone's and the desktop's window sizes of the screenshots.
pub const SIZES: [(&str, u32, u32); 2] = [("phone", 390, 844), ("desktop", 1280, 800)];

/// A server on SQLite and a browser for a story, or `None` (with a message) when there is no chromedriver
/// (`CARTABLE_TEST_WEBDRIVER`, set by `scripts/test.sh`). Keep the profile folder until the driver quits.
pub async fn start() -> Option<(crate::api_support::Server, tempfile::TempDir, WebDriver)> {
    let (profile, driver) = browser().await?;
    let server = crate::api_support::Server::start(crate::api_support::Backend::Sqlite).await;
    Some((server, profile, driver))
}

/// A browser alone (for a server the test starts itself), or `None` with a message when there is no chromedriver.
pub async fn browser() -> Option<(tempfile::TempDir, WebDriver)> {
    let Some(webdriver) = std::env::var("CARTABLE_TEST_WEBDRIVER").ok().filter(|v| !v.is_empty()) else {
        eprintln!("browser test skipped: CARTABLE_TEST_WEBDRIVER is not set (scripts/test.sh starts Debian's chromedriver and sets it)");
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let driver = chromium(&webdriver, profile.path()).await;
    Some((profile, driver))
}

/// A fresh headless Chromium session with a profile of its own, keeping its console's messages.
pub async fn chromium(webdriver: &str, profile: &std::path::Path) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    for arg in ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"] {
        caps.add_arg(arg).unwrap();
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display())).unwrap();
    // The console's messages, to look for CSP violations.
    caps.set_browser_log_level(thirtyfour::LoggingPrefsLogLevel::All).unwrap();
    if let Ok(binary) = std::env::var("CARTABLE_TEST_CHROMIUM") {
        caps.set_binary(&binary).unwrap();
    }
    WebDriver::new(webdriver, caps).await.expect("start a Chromium session")
}

/// The folder of the screenshots, `target/screenshots/`.
pub fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target folder").join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The page at both sizes, as `<name>-phone.png` and `<name>-desktop.png`, then its accessibility check (axe-core:
/// no serious or critical violation) and the console (no CSP violation); the window is left at the desktop size.
pub async fn shoot(driver: &WebDriver, name: &str) {
    screenshots_only(driver, name).await;
    super::axe::check(driver, name).await;
    super::axe::no_csp_violation(driver, name).await;
}

/// The screenshots alone, for what the browser shows that is not one of our pages (its PDF viewer).
pub async fn screenshots_only(driver: &WebDriver, name: &str) {
    for (size, width, height) in SIZES {
        driver.set_window_rect(0, 0, width, height).await.unwrap();
        driver.screenshot(&screenshots().join(format!("{name}-{size}.png"))).await.unwrap();
    }
}

pub async fn fill(driver: &WebDriver, id: &str, text: &str) {
    let field = driver.find(By::Id(id)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// The text of the page's main landmark once it contains every one of `needles` (a click's navigation may still
/// be under way); panics with the text after ten seconds.
pub async fn wait_for(driver: &WebDriver, needles: &[&str]) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        if let Ok(main) = driver.find(By::Tag("main")).await
            && let Ok(found) = main.text().await
        {
            text = found;
            if needles.iter().all(|n| text.contains(n)) {
                return text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never said {needles:?}: {text}");
}
