//! The web UI's search over plain HTTP, against the real server: the box is on every family page; a guardian who
//! added records from the pages finds them with a query without accents ("eleve" finds "élève"), the words marked;
//! the counts per child and per doctype filter, and so do the period and the pages; an empty query explains the
//! query language, a malformed one gets its message in French (or English) and no search; nothing typed comes back
//! unescaped; files whose text could not be read are counted; an adult child's data is never found by a guardian;
//! another family's guardian gets 404; each search is one `access_allowed` entry of action `search` in the ledger,
//! which never holds the words.

mod api_support;
mod cli_support;
mod web_support;

use api_support::{Backend, Server, within};
use serde_json::Value;
use web_support::{Answer, Visitor, WebFamily};

fn put(server: &Server, family: &str, child: &str, doctype: &str, body: &str) -> String {
    let out = server.cli_in(&["record", "put", "--family", family, "--child", child, "--doctype", doctype, "--body", "-"], Some(body));
    out["record_id"].as_str().unwrap().to_owned()
}

fn add_child(server: &Server, family: &str, name: &str, age: i32) -> String {
    let birth = api_support::born_years_ago(age);
    let child = server.cli(&["member", "add", "--family", family, "--role", "child", "--name", name, "--birth-date", &birth]);
    child["member_id"].as_str().unwrap().to_owned()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A raw request with the visitor's cookies (for multipart bodies and the API).
fn raw(visitor: &Visitor, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let cookies = visitor.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    request.header("cookie", cookies)
}

/// `multipart/form-data` as the upload form sends it: `csrf` first, then the file.
fn multipart(csrf: &str, name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----cartable-search-boundary-3c9a";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").into_bytes();
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend(content);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The search page's address for `query` (and more parameters, already encoded).
fn search_path(family: &str, query: &str, more: &str) -> String {
    format!("/family/{family}/search?{}{more}", serde_urlencoded::to_string([("q", query)]).unwrap())
}

/// An attribute's value as the browser reads it (askama writes `&` as `&#38;`).
fn unescape(text: &str) -> String {
    text.replace("&#38;", "&").replace("&amp;", "&")
}

/// Whether `<script` shows in the page as text: escaped.
fn escaped_script(body: &str) -> bool {
    body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;")
}

/// The facet link of `id` whose text starts with `label`.
fn facet(body: &str, id: &str, label: &str) -> String {
    let start = body.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id}: {body}"));
    let rest = &body[start..];
    let rest = &rest[..rest.find("</ul>").unwrap()];
    for item in rest.split("<li>").skip(1) {
        let href = item.split("href=\"").nth(1).unwrap().split('"').next().unwrap();
        let text = item.split('>').nth(1).unwrap_or_default();
        if text.starts_with(label) {
            return unescape(href);
        }
    }
    panic!("no facet {label} in {id}: {rest}");
}

/// How many results the page lists.
fn results(page: &Answer) -> usize {
    page.body.matches("<li class=\"result\">").count()
}

/// Every entry of the family's ledger the guardian sees, through the API with the page's session.
async fn ledger(server: &Server, visitor: &Visitor, family: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let mut url = format!("{}/api/v1/families/{family}/ledger/entries?limit=1000", server.url);
        if let Some(after) = after {
            url.push_str(&format!("&after={after}"));
        }
        let page: Value = raw(visitor, http().get(url)).send().await.unwrap().json().await.unwrap();
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_after"].as_u64() {
            Some(next) => after = Some(next),
            None => return entries,
        }
    }
}

fn searches(entries: &[Value]) -> usize {
    entries.iter().filter(|e| e["receipt"]["event"] == "access_allowed" && e["receipt"]["action"] == "search").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_searches_the_familys_data_from_the_pages() {
    within(300, "the search pages", story()).await;
}

async fn story() {
    let server = Server::start(Backend::Sqlite).await;
    let mut martin = WebFamily::create(&server, "Martin", "claire").await;
    let family = martin.family.clone();
    let leo = add_child(&server, &family, "Léo", 11);
    let zoe = add_child(&server, &family, "Zoé", 9);
    let ines = add_child(&server, &family, "Inès", 19);
    let g = &mut martin.guardian;

    // The box is in the header of every family page.
    let base = format!("/family/{family}/children/{leo}");
    for path in [format!("/family/{family}"), format!("/family/{family}/history"), format!("/family/{family}/grants"), base.clone(), format!("{base}/edu.grades")] {
        let page = g.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(&format!("<form class=\"site-search\" method=\"get\" action=\"/family/{family}/search\" role=\"search\"")), "{path} has no search box: {}", page.body);
    }

    // Records added from the pages' forms, as a guardian does.
    let csrf = g.get(&format!("{base}/edu.followup")).await.csrf();
    let added = g.post(&format!("{base}/edu.followup"), &[("csrf", &csrf), ("text", "Très bon élève, attentif en classe.")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let added = g.post(&format!("{base}/edu.homework"), &[("csrf", &csrf), ("subject", "Histoire"), ("due", "2031-03-10"), ("text", "Exposé : la journée d'un élève au Moyen Âge")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let added = g.post(&format!("{base}/edu.followup"), &[("csrf", &csrf), ("text", "<script>alert(\"élève\")</script> collé dans le carnet")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    let zoes = format!("/family/{family}/children/{zoe}/edu.followup");
    let added = g.post(&zoes, &[("csrf", &csrf), ("text", "Zoé est une élève curieuse.")]).await;
    assert_eq!(added.status, 303, "{}", added.body);
    // The adult's own data, which her parents' searches must never find.
    put(&server, &family, &ines, "edu.followup", r#"{"date": "2030-12-03", "text": "Inès, ancienne élève, confidentiel majeure"}"#);

    // An accent-free query finds the accented word, marked; the guardian's search and its ledger entry.
    let before = searches(&ledger(&server, g, &family).await);
    let page = g.get(&search_path(&family, "eleve", "")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for needle in ["<mark>élève</mark>", "4 résultats", "Très bon", "Zoé est une", "Par enfant", "Par type de données", "Carnet de suivi", "Devoirs", "value=\"eleve\"", "lundi 10 mars 2031"] {
        assert!(page.body.contains(needle), "the results lack {needle}: {}", page.body);
    }
    assert_eq!(results(&page), 4);
    assert!(page.body.contains(&format!("href=\"{base}/edu.followup\"")) && page.body.contains(&format!("href=\"{base}/edu.homework\"")), "each result links to its collection: {}", page.body);
    // The record's text is shown as text: its markup is escaped, never injected.
    assert!(!page.body.contains("<script"), "markup from a record reached the page: {}", page.body);
    assert!(escaped_script(&page.body) && page.body.contains("alert(&#34;<mark>élève</mark>&#34;)"), "{}", page.body);
    // The adult's data is nowhere: not in the results, not in the counts.
    assert!(!page.body.contains("Inès") && !page.body.contains("confidentiel"), "a guardian found an adult's data: {}", page.body);
    let entries = ledger(&server, g, &family).await;
    assert_eq!(searches(&entries), before + 1, "one search, one entry");
    let text = serde_json::to_string(&entries).unwrap();
    for word in ["eleve", "élève", "\\u00e9l\\u00e8ve"] {
        assert!(!text.contains(word), "the query's words are in the ledger: {word}");
    }

    // The counts filter: by doctype, then by child, then back.
    let homework = facet(&page.body, "facets-doctype", "Devoirs");
    let narrowed = g.get(&homework).await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(results(&narrowed), 1, "{}", narrowed.body);
    assert!(narrowed.body.contains("Moyen Âge") && !narrowed.body.contains("Zoé est une"), "{}", narrowed.body);
    assert!(narrowed.body.contains("aria-current=\"true\">Devoirs"), "the filter in force is shown: {}", narrowed.body);
    // The query and the filter are kept in the form, so a new query keeps the filter.
    assert!(narrowed.body.contains("<input type=\"hidden\" name=\"doctype\" value=\"edu.homework\">"), "{}", narrowed.body);
    let zoe_only = g.get(&facet(&page.body, "facets-child", "Zoé")).await;
    assert_eq!(results(&zoe_only), 1, "{}", zoe_only.body);
    assert!(zoe_only.body.contains("Zoé est une") && !zoe_only.body.contains("Très bon"), "{}", zoe_only.body);
    // A child and a doctype: one collection, decided as one.
    let both = g.get(&search_path(&family, "eleve", &format!("&child={leo}&doctype=edu.followup"))).await;
    assert_eq!(results(&both), 2, "{}", both.body);
    assert!(!both.body.contains("Moyen Âge") && !both.body.contains("Zoé est une"), "{}", both.body);
    let all = facet(&narrowed.body, "facets-doctype", "Tous les types");
    assert_eq!(results(&g.get(&all).await), 4);
    // A filter that matches nothing still shows, with the way back.
    let nothing = g.get(&search_path(&family, "eleve", "&doctype=edu.grades")).await;
    assert!(nothing.body.contains("Aucun résultat") && nothing.body.contains("aria-current=\"true\">Notes <span class=\"count\">0</span>"), "{}", nothing.body);
    assert_eq!(results(&g.get(&facet(&nothing.body, "facets-doctype", "Tous les types")).await), 4);

    // The period: the homework is due in March 2031, the notebook's entries are dated today.
    let march = g.get(&search_path(&family, "eleve", "&from=2031-03-01&to=2031-03-31")).await;
    assert_eq!(results(&march), 1, "{}", march.body);
    assert!(march.body.contains("value=\"2031-03-01\"") && march.body.contains("value=\"2031-03-31\""), "{}", march.body);
    let backwards = g.get(&search_path(&family, "eleve", "&from=2031-03-31&to=2031-03-01")).await;
    assert_eq!(backwards.status, 200);
    assert!(backwards.body.contains("Le début de la période est après sa fin") && results(&backwards) == 0, "{}", backwards.body);
    let bad_day = g.get(&search_path(&family, "eleve", "&from=2031-02-30")).await;
    assert!(bad_day.body.contains("Une date de la période n&#39;est pas valable"), "{}", bad_day.body);

    // No query: the box and how to search. Nothing found: said so.
    for path in [format!("/family/{family}/search"), search_path(&family, "   ", "")] {
        let empty = g.get(&path).await;
        assert_eq!(empty.status, 200, "{}", empty.body);
        for needle in ["id=\"q\"", "Comment chercher", "<code>\"premier trimestre\"</code>", "&#34;une expression&#34;", "-brouillon", "math*", "«\u{a0}eleve\u{a0}» trouve «\u{a0}élève\u{a0}»"] {
            assert!(empty.body.contains(needle), "the empty search lacks {needle}: {}", empty.body);
        }
        assert!(!empty.body.contains("class=\"site-search\""), "one box on the search page");
    }
    let none = g.get(&search_path(&family, "hippopotame", "")).await;
    assert!(none.body.contains("Aucun résultat. Essayez d") && results(&none) == 0, "{}", none.body);

    // Malformed queries: a page with what to fix, in French, and no search decided.
    let before = searches(&ledger(&server, g, &family).await);
    for (query, message) in [
        ("\"unclosed", "Un guillemet n&#39;est pas fermé"),
        ("-brouillon", "La recherche ne fait qu&#39;exclure des mots"),
        ("a*", "Mettez au moins deux lettres avant l&#39;astérisque"),
        (&"mot ".repeat(40), "La recherche a trop de mots"),
    ] {
        let refused = g.get(&search_path(&family, query, "")).await;
        assert_eq!(refused.status, 200, "{query}: {}", refused.body);
        assert!(refused.body.contains(message), "{query}: {}", refused.body);
        assert!(!refused.body.contains("quotation mark") && !refused.body.contains("the query"), "{query}: English on the French page: {}", refused.body);
    }
    assert_eq!(searches(&ledger(&server, g, &family).await), before, "a malformed query decided a search");
    // Only common words: the vault refuses it; the page says so in French.
    let common = g.get(&search_path(&family, "le de", "")).await;
    assert_eq!(common.status, 200, "{}", common.body);
    assert!(common.body.contains("mots trop courants"), "{}", common.body);
    // In English, in English.
    g.language = Some("en");
    let english = g.get(&search_path(&family, "\"unclosed", "")).await;
    assert!(english.body.contains("A quotation mark is not closed"), "{}", english.body);
    let english = g.get(&search_path(&family, "eleve", "")).await;
    assert!(english.body.contains("4 results") && english.body.contains("Follow-up notebook"), "{}", english.body);
    g.language = None;

    // What is typed never comes back unescaped: in the box, the links, the messages.
    for query in ["<script>alert(1)</script>", "\"><script>alert(1)</script>", "eleve <script>"] {
        let page = g.get(&search_path(&family, query, "")).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        assert!(!page.body.contains("<script"), "{query} came back unescaped: {}", page.body);
        assert!(escaped_script(&page.body), "{query}: {}", page.body);
    }

    // Pages of 20: 25 grades of Zoé's written through the API with the session.
    let api = format!("{}/api/v1/families/{family}/children/{zoe}/collections/edu.grades/records", server.url);
    let token = g.cookies["cartable_csrf"].clone();
    for n in 0..25 {
        let body = serde_json::json!({"subject": "Mathématiques", "title": format!("Exercice de trigonométrie {n}"), "grade": 10 + n % 10, "out_of": 20, "date": "2030-11-04"});
        let written = raw(g, http().post(&api).header("x-csrf-token", &token).json(&body)).send().await.unwrap();
        assert_eq!(written.status(), 201, "{}", written.text().await.unwrap());
    }
    let first = g.get(&search_path(&family, "trigonometrie", "")).await;
    assert_eq!(results(&first), 20, "{}", first.body);
    assert!(first.body.contains("25 résultats") && first.body.contains("Page 1 sur 2") && !first.body.contains("id=\"search-previous\""), "{}", first.body);
    let next = first.body.split("id=\"search-next\"").next().unwrap().rsplit("href=\"").next().unwrap().split('"').next().map(unescape).unwrap();
    assert!(next.ends_with("&page=2"), "{next}");
    let second = g.get(&next).await;
    assert_eq!(results(&second), 5, "{}", second.body);
    assert!(second.body.contains("Page 2 sur 2") && second.body.contains("id=\"search-previous\"") && !second.body.contains("id=\"search-next\""), "{}", second.body);
    let mut titles: Vec<String> = [&first, &second].iter().flat_map(|p| p.body.split("Exercice de trigonométrie ").skip(1).map(|r| r.split('<').next().unwrap().to_owned()).collect::<Vec<_>>()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 25, "every result once across the pages: {titles:?}");
    assert_eq!(g.get(&search_path(&family, "trigonometrie", "&page=0")).await.status, 404);
    assert_eq!(g.get(&search_path(&family, "trigonometrie", "&page=4000000000")).await.status, 404);

    // A file whose text cannot be read (a .txt that is not UTF-8) is found by its name, and counted.
    let upload = format!("{}{base}/edu.documents/upload", server.url);
    let (kind, body) = multipart(&csrf, "fiche-eleve.txt", &[0xff, 0xfe, 0xfd, 0x00, 0xc3]);
    let sent = raw(g, http().post(&upload).header("content-type", kind).body(body)).send().await.unwrap();
    assert_eq!(sent.status(), 303);
    let page = g.get(&search_path(&family, "fiche", "")).await;
    assert!(page.body.contains("fiche-eleve.txt") && page.body.contains("1 fichier n&#39;a pas pu être lu"), "{}", page.body);

    // The adult child: her own filter is refused, as a search of her collection is; nothing of hers shows.
    for more in [format!("&child={ines}"), format!("&child={ines}&doctype=edu.followup")] {
        let refused = g.get(&search_path(&family, "confidentiel", &more)).await;
        assert_eq!(refused.status, 403, "{more}: {}", refused.body);
        assert!(!refused.body.contains("confidentiel majeure"), "{}", refused.body);
    }
    assert!(g.get(&search_path(&family, "confidentiel", "")).await.body.contains("Aucun résultat"));
    // A child who is not in the family, and a doctype that does not exist: no such page.
    assert_eq!(g.get(&search_path(&family, "eleve", "&child=00000000-0000-4000-8000-000000000000")).await.status, 404);
    assert_eq!(g.get(&search_path(&family, "eleve", "&doctype=edu.nothing")).await.status, 404);

    // Another family's guardian: the first family's search does not exist for them.
    let mut durand = WebFamily::create(&server, "Durand", "bob").await;
    let outsider = durand.guardian.get(&search_path(&family, "eleve", "")).await;
    assert_eq!(outsider.status, 404, "{}", outsider.body);
    assert!(!outsider.body.contains("élève"));
    let own = durand.guardian.get(&search_path(&durand.family, "eleve", "")).await;
    assert!(own.status == 200 && own.body.contains("Aucun résultat"), "{}", own.body);
}
