//! Support tickets: a thread between the customer and operators (JSON or multipart with
//! attachments checked for size and type), the operator's reply mailed to the customer,
//! filters, assignment and states, another account's ticket answering 404, and the auto-close
//! of tickets left waiting for the customer; the panel's ticket forms with files (the file
//! input, each attachment's download link, a refused file shown next to its input with the
//! message kept).

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World};
use serde_json::{Value, json};

both_backends!(
    ticket_thread_and_operators,
    tickets_close_after_waiting,
    panel_ticket_with_files
);

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-test-image";

fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "guichet-ticket-boundary-41c2";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn post_form(
    s: &Server,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> (u16, Value) {
    let (ct, body) = multipart(fields, files);
    let r = s
        .client
        .post(s.url(path))
        .bearer_auth(token)
        .header("Content-Type", ct)
        .body(body)
        .send()
        .await
        .expect("upload");
    let st = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    assert!(st < 500, "{st} {v}");
    (st, v)
}

async fn ticket_thread_and_operators(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let t = s.customer(&w.smtp, "helpme@example.fr").await;
    let other = s.customer(&w.smtp, "nosy@example.fr").await;

    // Bad input is a 4xx, and nothing is written.
    let (st, v) = s
        .post(
            "/api/v1/me/tickets",
            Some(&t),
            json!({"category": "gossip", "subject": "x", "message": "y"}),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_category")));
    let (st, v) = s
        .post(
            "/api/v1/me/tickets",
            Some(&t),
            json!({"category": "technical", "subject": "x", "message": "y", "service_id": "nope"}),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (422, Some("service_not_found")));
    let fields = [
        ("category", "technical"),
        ("subject", "Mailbox refuses my password"),
        ("message", "Since this morning."),
    ];
    let big = {
        let mut v = b"%PDF-1.7\n".to_vec();
        v.resize(5 * 1024 * 1024 + 1, b'x');
        v
    };
    let (st, v) = post_form(s, &t, "/api/v1/me/tickets", &fields, &[("big.pdf", &big)]).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (413, Some("file_too_large")),
        "{v}"
    );
    let (st, v) = post_form(
        s,
        &t,
        "/api/v1/me/tickets",
        &fields,
        &[("run.exe", b"MZ\x90\x00rest")],
    )
    .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (415, Some("unsupported_file_type"))
    );
    let (_, list) = s.get("/api/v1/me/tickets", Some(&t)).await;
    assert_eq!(list, json!([]));

    // Opened with a screenshot.
    let (st, v) = post_form(s, &t, "/api/v1/me/tickets", &fields, &[("screen.png", PNG)]).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["state"], "open");
    assert!(v.get("assignee").is_none() && v.get("account_id").is_none());
    let id = v["id"].as_str().unwrap().to_owned();
    let att = v["messages"][0]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .client
        .get(s.url(&format!("/api/v1/me/tickets/{id}/attachments/{att}")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);

    // Another account sees nothing of it; a malformed id is a 404 too.
    for path in [
        format!("/api/v1/me/tickets/{id}"),
        format!("/api/v1/me/tickets/{id}/attachments/{att}"),
        "/api/v1/me/tickets/not-an-id".to_owned(),
    ] {
        let (st, _) = s.get(&path, Some(&other)).await;
        assert_eq!(st, 404, "{path}");
    }
    for action in ["messages", "close", "reopen"] {
        let (st, _) = s
            .post(
                &format!("/api/v1/me/tickets/{id}/{action}"),
                Some(&other),
                json!({"message": "mine now"}),
            )
            .await;
        assert_eq!(st, 404, "{action}");
    }
    let (_, list) = s.get("/api/v1/me/tickets", Some(&other)).await;
    assert_eq!(list, json!([]));

    // Operators filter, assign, answer (the customer is mailed).
    let (_, me) = s.get("/api/v1/me", Some(&t)).await;
    let account = me["id"].as_str().unwrap();
    let (st, l) = s
        .get(
            &format!("/api/v1/admin/tickets?state=open&category=technical&account={account}"),
            Some(&op),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(l.as_array().unwrap().len(), 1, "{l}");
    let (_, l) = s
        .get("/api/v1/admin/tickets?category=billing", Some(&op))
        .await;
    assert_eq!(l, json!([]));
    let (st, v) = s
        .get("/api/v1/admin/tickets?state=sleeping", Some(&op))
        .await;
    assert_eq!((st, v["code"].as_str()), (422, Some("invalid_state")));
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/tickets/{id}/assign"),
            Some(&op),
            json!({"assignee": "Camille"}),
        )
        .await;
    assert_eq!((st, v["assignee"].as_str()), (200, Some("Camille")));
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/tickets/{id}/messages"),
            Some(&op),
            json!({"message": "Reset done: try again with the mailed link."}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["state"], "awaiting_customer");
    w.smtp
        .wait_for(
            "helpme@example.fr",
            "Reset done: try again with the mailed link.",
        )
        .await;
    let (_, v) = s.get(&format!("/api/v1/me/tickets/{id}"), Some(&t)).await;
    assert_eq!(v["messages"].as_array().unwrap().len(), 2);
    assert_eq!(v["messages"][1]["author"], "operator");
    assert!(v["messages"][1].get("operator_name").is_none());

    // The customer answers, closes, cannot write to a closed ticket, reopens.
    let (st, v) = s
        .post(
            &format!("/api/v1/me/tickets/{id}/messages"),
            Some(&t),
            json!({"message": "Works, thanks."}),
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("awaiting_provider")));
    let (st, v) = s
        .post(
            &format!("/api/v1/me/tickets/{id}/close"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("closed")));
    let (st, v) = s
        .post(
            &format!("/api/v1/me/tickets/{id}/messages"),
            Some(&t),
            json!({"message": "One more thing"}),
        )
        .await;
    assert_eq!((st, v["code"].as_str()), (409, Some("ticket_closed")));
    let (st, v) = s
        .post(
            &format!("/api/v1/me/tickets/{id}/reopen"),
            Some(&t),
            json!({}),
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("awaiting_provider")));
    let (st, v) = s
        .post(
            &format!("/api/v1/admin/tickets/{id}/state"),
            Some(&op),
            json!({"state": "closed"}),
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("closed")));

    // Every operator action is audited.
    let (_, audit) = s.get("/api/v1/admin/audit", Some(&op)).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in ["ticket.assigned", "ticket.replied", "ticket.state"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

async fn tickets_close_after_waiting(b: Backend) {
    let w = World::with_env(
        b,
        vec![("GUICHET_TICKET_AUTOCLOSE_DAYS".into(), "3".into())],
    )
    .await;
    let s = &w.server;
    let op = s.operator_key();
    let t = s.customer(&w.smtp, "silent@example.fr").await;
    let (st, v) = s
        .post(
            "/api/v1/me/tickets",
            Some(&t),
            json!({"category": "billing", "subject": "Invoice address", "message": "Wrong street."}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    s.post(
        &format!("/api/v1/admin/tickets/{id}/messages"),
        Some(&op),
        json!({"message": "Which street should it be?"}),
    )
    .await;
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 2 * 86_400}),
    )
    .await;
    let (_, v) = s
        .get(&format!("/api/v1/admin/tickets/{id}"), Some(&op))
        .await;
    assert_eq!(v["state"], "awaiting_customer");
    s.post(
        "/api/v1/admin/clock",
        Some(&op),
        json!({"advance_seconds": 86_400 + 60}),
    )
    .await;
    let (_, v) = s
        .get(&format!("/api/v1/admin/tickets/{id}"), Some(&op))
        .await;
    assert_eq!(v["state"], "closed", "{v}");
    assert_eq!(v["messages"][2]["author"], "system");
    let t = s.login("silent@example.fr", PASSWORD).await;
    let (_, mails) = s.get("/api/v1/me/emails?limit=100", Some(&t)).await;
    let kinds: Vec<&str> = mails["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"ticket_auto_closed"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "ticket_auto_closed").count(),
        1
    );
}

/// A panel form with files, posted with the session cookie and the page's CSRF token.
async fn panel_post(
    s: &Server,
    session: &str,
    path: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> (u16, String, String) {
    let (ct, body) = multipart(fields, files);
    let r = crate::panel::browser()
        .post(s.url(path))
        .header("cookie", format!("guichet_session={session}"))
        .header("origin", &s.base)
        .header("Content-Type", ct)
        .body(body)
        .send()
        .await
        .expect("panel post");
    let st = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().expect("location").to_owned())
        .unwrap_or_default();
    (st, location, r.text().await.expect("body"))
}

async fn panel_ticket_with_files(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let t = s.customer(&w.smtp, "files@example.fr").await;
    let (st, html) = crate::panel::page(s, &t, "/tickets").await;
    assert_eq!(st, 200);
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    assert!(html.contains("type=\"file\""), "{html}");
    let csrf = crate::panel::hidden(&html, "_csrf");

    // Without its token the form is refused, and nothing is opened.
    let fields = [
        ("category", "technical"),
        ("subject", "Screen of the error"),
        ("message", "See the attached screen."),
    ];
    let (st, _, _) = panel_post(s, &t, "/tickets", &fields, &[("screen.png", PNG)]).await;
    assert_eq!(st, 403);
    let (_, list) = s.get("/api/v1/me/tickets", Some(&t)).await;
    assert_eq!(list.as_array().expect("list").len(), 0);

    // A text file is refused next to the file input, with what was typed kept.
    let mut with_token = vec![("_csrf", csrf.as_str())];
    with_token.extend_from_slice(&fields);
    let (st, _, html) = panel_post(
        s,
        &t,
        "/tickets",
        &with_token,
        &[("notes.txt", b"plain text")],
    )
    .await;
    assert_eq!(st, 415, "{html}");
    assert!(html.contains("id=\"e-file\""), "{html}");
    assert!(html.contains("Screen of the error"), "{html}");
    assert!(html.contains("See the attached screen."), "{html}");

    // A picture opens the ticket; its page links to the file, which downloads as sent.
    let (st, location, _) =
        panel_post(s, &t, "/tickets", &with_token, &[("screen.png", PNG)]).await;
    assert_eq!(st, 303);
    let path = location.split('?').next().expect("path").to_owned();
    let id = path.trim_start_matches("/tickets/").to_owned();
    let (st, html) = crate::panel::page(s, &t, &path).await;
    assert_eq!(st, 200);
    let (_, v) = s.get(&format!("/api/v1/me/tickets/{id}"), Some(&t)).await;
    let att = v["messages"][0]["attachments"][0]["id"]
        .as_str()
        .expect("attachment id")
        .to_owned();
    let link = format!("/tickets/{id}/files/{att}");
    assert!(html.contains(&link), "{html}");
    assert!(html.contains("screen.png"), "{html}");
    let r = crate::panel::browser()
        .get(s.url(&link))
        .header("cookie", format!("guichet_session={t}"))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), PNG);

    // A reply with four files is refused (three at most); an empty file input is no file.
    let csrf = crate::panel::hidden(&html, "_csrf");
    let reply = [("_csrf", csrf.as_str()), ("message", "Two more screens.")];
    let four: Vec<(&str, &[u8])> = (0..4).map(|_| ("more.png", PNG)).collect();
    let (st, _, html) = panel_post(s, &t, &format!("/tickets/{id}/reply"), &reply, &four).await;
    assert_eq!(st, 422, "{html}");
    assert!(html.contains("id=\"e-file\""), "{html}");
    assert!(html.contains("Two more screens."), "{html}");
    let (st, _, _) = panel_post(s, &t, &format!("/tickets/{id}/reply"), &reply, &[("", b"")]).await;
    assert_eq!(st, 303);
    let (_, v) = s.get(&format!("/api/v1/me/tickets/{id}"), Some(&t)).await;
    assert_eq!(v["messages"].as_array().expect("messages").len(), 2);
    assert_eq!(
        v["messages"][1]["attachments"]
            .as_array()
            .expect("none")
            .len(),
        0
    );

    // Another account's session gets the 404 page for the file.
    let other = s.customer(&w.smtp, "other-files@example.fr").await;
    let (st, _) = crate::panel::page(s, &other, &link).await;
    assert_eq!(st, 404);
}
