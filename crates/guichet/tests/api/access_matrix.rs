//! The access-control matrix, generated from the served OpenAPI document so that every route
//! is covered, including the ones added after this test was written: every `/api/v1/me/...`
//! operation is tried with a second account's real ids (404, and the second account's data
//! unchanged), every `/me` operation without a token (401), every `/api/v1/admin/...`
//! operation with a customer's token (401/403) and with none (401). A `/me` path whose path
//! parameter cannot be filled with a real id of the second account fails the test, so no
//! route goes unchecked. The older `isolation.rs` covers the same rule by hand, with the
//! sessions and tokens flows around it.

use crate::both_backends;
use crate::harness::{Backend, PASSWORD, Server, World};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

both_backends!(every_route_refuses_other_accounts_and_strangers);

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR-matrix-image";
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// A well-formed id that belongs to nobody, for admin paths only.
const NOBODY: &str = "01900000-0000-7000-8000-000000000000";

/// A request body built from an operation's request schema.
enum Body {
    None,
    Json(Value),
    Multipart(String, Vec<u8>),
}

/// One operation of the document, its path filled.
struct Op {
    method: String,
    template: String,
    path: String,
    body: Body,
}

async fn raw(s: &Server, op: &Op, token: Option<&str>) -> (u16, Vec<u8>) {
    let m = reqwest::Method::from_bytes(op.method.to_uppercase().as_bytes()).expect("method");
    let mut r = s.client.request(m, s.url(&op.path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r = match &op.body {
        Body::None => r,
        Body::Json(v) => r.json(v),
        Body::Multipart(ct, bytes) => r.header("Content-Type", ct).body(bytes.clone()),
    };
    let resp = r.send().await.expect("request");
    let st = resp.status().as_u16();
    let bytes = resp.bytes().await.expect("body").to_vec();
    assert!(
        st < 500,
        "{} {} answered {st}: {}",
        op.method,
        op.path,
        String::from_utf8_lossy(&bytes)
    );
    (st, bytes)
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().expect("ref name");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// A string the schema's description names in backquotes (`automatic`, `P1M`…), else "x".
fn sample_string(schema: &Value) -> String {
    schema["description"]
        .as_str()
        .and_then(|d| d.split('`').nth(1))
        .filter(|w| !w.is_empty() && !w.contains(' '))
        .unwrap_or("x")
        .to_owned()
}

fn types(schema: &Value) -> Vec<String> {
    match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// A minimal value matching the schema: required properties only, the first of an enum,
/// the minimum of a number.
fn sample(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = schema[key]
            .as_array()
            .and_then(|v| v.iter().find(|s| s["type"] != "null"))
        {
            return sample(doc, first, depth);
        }
    }
    let ts = types(schema);
    let t = ts.iter().find(|t| *t != "null").map(String::as_str);
    match t {
        Some("object") | None if depth < 6 => {
            let mut m = Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in required {
                m.insert(
                    name.to_owned(),
                    sample(doc, &schema["properties"][name], depth + 1),
                );
            }
            Value::Object(m)
        }
        Some("integer") | Some("number") => schema["minimum"].as_i64().unwrap_or(1).into(),
        Some("boolean") => false.into(),
        Some("array") => {
            if schema["minItems"].as_u64().unwrap_or(0) > 0 {
                json!([sample(doc, &schema["items"], depth + 1)])
            } else {
                json!([])
            }
        }
        Some("string") => sample_string(schema).into(),
        _ => Value::Null,
    }
}

fn multipart(doc: &Value, schema: &Value) -> (String, Vec<u8>) {
    let schema = resolve(doc, schema);
    let boundary = "guichet-matrix-boundary-7f3a";
    let mut body = Vec::new();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in required {
        let p = resolve(doc, &schema["properties"][name]);
        let binary = p["format"] == "binary" || p["items"]["format"] == "binary";
        if binary {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                     filename=\"proof.png\"\r\nContent-Type: image/png\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(PNG);
            body.extend_from_slice(b"\r\n");
        } else {
            let v = sample(doc, p, 1);
            let text = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{text}\r\n"
                )
                .as_bytes(),
            );
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn body_of(doc: &Value, op: &Value) -> Body {
    let content = &op["requestBody"]["content"];
    if let Some(s) = content.get("application/json") {
        Body::Json(sample(doc, &s["schema"], 0))
    } else if let Some(s) = content.get("multipart/form-data") {
        let (ct, bytes) = multipart(doc, &s["schema"]);
        Body::Multipart(ct, bytes)
    } else {
        Body::None
    }
}

/// Fill each `{param}` with the id named by the segment before it (`orders/{id}` → an order
/// id); `None` when a segment has no id in `ids`.
fn fill(template: &str, ids: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = Vec::new();
    let mut prev = "";
    for seg in template.split('/') {
        if seg.starts_with('{') && seg.ends_with('}') {
            match ids.get(prev) {
                Some(id) => out.push(id.clone()),
                None => return Err(prev.to_owned()),
            }
        } else {
            out.push(seg.to_owned());
        }
        prev = seg;
    }
    Ok(out.join("/"))
}

/// Every operation under `prefix`, in document order.
fn operations(doc: &Value, prefix: &str, ids: &BTreeMap<&str, String>) -> Vec<Op> {
    let mut ops = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        if !template.starts_with(prefix) {
            continue;
        }
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let path = fill(template, ids).unwrap_or_else(|segment| {
                panic!(
                    "{method} {template}: no id of the second account for `{segment}/{{…}}`; \
                     create one in access_matrix.rs so that this route is checked"
                )
            });
            ops.push(Op {
                method: method.to_owned(),
                template: template.clone(),
                path,
                body: body_of(doc, op),
            });
        }
    }
    ops
}

/// Build up everything a customer can own, for Bob: a paid order with its invoice and
/// service, an order with an uploaded document, a saved card, a ticket with an attachment,
/// an API token, a session, his mails. Returns the ids by the path segment that names them.
async fn bobs_things(w: &World, op: &str, bob: &str) -> BTreeMap<&'static str, String> {
    let s = &w.server;
    let mut ids = BTreeMap::new();
    s.mail_plan(op, json!({"EUR": 1200})).await;
    for (path, body) in [
        (
            "/api/v1/admin/catalog/products/vps",
            json!({"name": "VPS", "category": "vps"}),
        ),
        (
            "/api/v1/admin/catalog/products/vps/plans/vps-s-monthly",
            json!({"name": "VPS S", "period": "P1M", "prices": {"EUR": 599}}),
        ),
    ] {
        let (st, v) = s.call("PUT", path, Some(op), Some(body)).await;
        assert_eq!(st, 200, "{v}");
    }

    let tok = s.card_token("4242424242424242").await;
    let (st, card) = s
        .post(
            "/api/v1/me/payment-methods",
            Some(bob),
            json!({"kind": "card", "token": tok}),
        )
        .await;
    assert_eq!(st, 201, "{card}");
    ids.insert("payment-methods", card["id"].as_str().unwrap().to_owned());

    // A delivered instant service, with its invoice.
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(bob),
            json!({"lines": [{"plan": "mail-yearly"}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let paid = o["id"].as_str().unwrap().to_owned();
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{paid}/pay"),
            Some(bob),
            json!({}),
        )
        .await;
    assert_eq!((st, &o["status"]), (200, &json!("delivered")), "{o}");
    ids.insert(
        "services",
        o["lines"][0]["service_id"].as_str().unwrap().to_owned(),
    );
    if let Some(p) = o["payments"][0]["id"].as_str() {
        ids.insert("payments", p.to_owned());
    }
    let (_, inv) = s.get("/api/v1/me/invoices", Some(bob)).await;
    let invoice = inv["items"][0]["id"]
        .as_str()
        .or_else(|| inv[0]["id"].as_str())
        .unwrap_or_else(|| panic!("Bob has an invoice: {inv}"))
        .to_owned();
    ids.insert("invoices", invoice);

    // An order waiting on documents, with one uploaded.
    let (st, o) = s
        .post(
            "/api/v1/me/orders",
            Some(bob),
            json!({"lines": [{"plan": "vps-s-monthly"}]}),
        )
        .await;
    assert_eq!(st, 201, "{o}");
    let order = o["id"].as_str().unwrap().to_owned();
    let (st, o) = s
        .post(
            &format!("/api/v1/me/orders/{order}/pay"),
            Some(bob),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    let (st, o) = s
        .post(
            &format!("/api/v1/admin/orders/{order}/documents-request"),
            Some(op),
            json!({"instructions": "Your ID card, please.", "due_days": 10}),
        )
        .await;
    assert_eq!(st, 200, "{o}");
    let boundary = "matrix-doc-boundary";
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"id.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(PDF);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = s
        .client
        .post(s.url(&format!("/api/v1/me/orders/{order}/documents")))
        .bearer_auth(bob)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 200);
    let o: Value = r.json().await.expect("order");
    ids.insert(
        "documents",
        o["documents"][0]["id"].as_str().unwrap().to_owned(),
    );
    ids.insert("orders", order);

    // A ticket with an attachment.
    let boundary = "matrix-ticket-boundary";
    let mut form = Vec::new();
    for (k, v) in [
        ("category", "technical"),
        ("subject", "Bob's private question"),
        ("message", "Only Bob may read this."),
    ] {
        form.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    form.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"screen.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    form.extend_from_slice(PNG);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = s
        .client
        .post(s.url("/api/v1/me/tickets"))
        .bearer_auth(bob)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(form)
        .send()
        .await
        .expect("ticket");
    assert_eq!(r.status().as_u16(), 201);
    let t: Value = r.json().await.expect("ticket");
    ids.insert("tickets", t["id"].as_str().unwrap().to_owned());
    ids.insert(
        "attachments",
        t["messages"][0]["attachments"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );

    let (st, token) = s
        .post(
            "/api/v1/me/tokens",
            Some(bob),
            json!({"name": "bob's script", "scope": "read"}),
        )
        .await;
    assert_eq!(st, 201, "{token}");
    ids.insert("tokens", token["id"].as_str().unwrap().to_owned());
    // Not a path segment: the secret itself, tried on the operator routes.
    ids.insert(
        "api-token-secret",
        token["token"].as_str().unwrap().to_owned(),
    );
    // A credit voucher redeemed into the balance: a redemption of its own.
    let op = s.operator_key();
    let (st, v) = s
        .post(
            "/api/v1/admin/vouchers",
            Some(&op),
            json!({"code": "BOB-GIFT", "kind": "credit", "amount_minor": 500, "currency": "EUR"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, c) = s
        .post(
            "/api/v1/me/credit/vouchers",
            Some(bob),
            json!({"code": "BOB-GIFT"}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    let (_, redemptions) = s.get("/api/v1/me/voucher-redemptions", Some(bob)).await;
    ids.insert(
        "voucher-redemptions",
        redemptions[0]["id"].as_str().unwrap().to_owned(),
    );
    let (_, sessions) = s.get("/api/v1/me/sessions", Some(bob)).await;
    ids.insert("sessions", sessions[0]["id"].as_str().unwrap().to_owned());
    let (_, mails) = s.get("/api/v1/me/emails", Some(bob)).await;
    ids.insert(
        "emails",
        mails["items"][0]["id"].as_str().unwrap().to_owned(),
    );
    ids
}

/// Wait until every mail of the account has left the outbox.
pub async fn all_mail_sent(s: &Server, token: &str) {
    crate::harness::eventually(30, "every mail sent", || async {
        let (_, v) = s.get("/api/v1/me/emails?limit=100", Some(token)).await;
        v["items"]
            .as_array()?
            .iter()
            .all(|m| m["status"] == "sent")
            .then_some(())
    })
    .await
}

/// What Bob sees on every `/me` read, to compare before and after Alice's attempts.
async fn bobs_view(s: &Server, reads: &[Op], bob: &str) -> Vec<(String, u16, Vec<u8>)> {
    let mut out = Vec::new();
    for op in reads {
        // The lists of sessions and security events move with every request (last use).
        if op.template.ends_with("/sessions") || op.template.contains("/security/events") {
            continue;
        }
        let (st, bytes) = raw(s, op, Some(bob)).await;
        out.push((op.path.clone(), st, bytes));
    }
    out
}

async fn every_route_refuses_other_accounts_and_strangers(b: Backend) {
    let w = World::new(b).await;
    let s = &w.server;
    let op = s.operator_key();
    let alice = s.customer(&w.smtp, "alice@example.fr").await;
    let bob = s.customer(&w.smtp, "bob@example.fr").await;
    let ids = bobs_things(&w, &op, &bob).await;
    // Alice has just proved her password, so no route stops her at re-authentication.
    let (st, v) = s
        .post(
            "/api/v1/me/reauth",
            Some(&alice),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(st, 204, "{v}");

    let (st, doc) = s.get("/api/v1/openapi.json", None).await;
    assert_eq!(st, 200);
    let me = operations(&doc, "/api/v1/me", &ids);
    let admin_ids: BTreeMap<&str, String> = ids
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .chain([
            ("products", "mail".to_owned()),
            ("plans", "mail-yearly".to_owned()),
        ])
        .collect();
    let mut admin_fill = admin_ids.clone();
    for (template, _) in doc["paths"].as_object().unwrap() {
        let mut prev = "";
        for seg in template.split('/') {
            if seg.starts_with('{') {
                admin_fill.entry(prev).or_insert_with(|| NOBODY.to_owned());
            }
            prev = seg;
        }
    }
    let admin = operations(&doc, "/api/v1/admin/", &admin_fill);
    assert!(
        me.len() >= 60 && admin.len() >= 25,
        "the document lists the routes ({} /me, {} admin)",
        me.len(),
        admin.len()
    );

    // The ids are Bob's, for real: he reads each of them.
    let reads: Vec<Op> = me
        .iter()
        .filter(|o| o.method == "get")
        .map(|o| Op {
            method: o.method.clone(),
            template: o.template.clone(),
            path: o.path.clone(),
            body: Body::None,
        })
        .collect();
    for o in reads.iter().filter(|o| o.template.contains('{')) {
        let (st, bytes) = raw(s, o, Some(&bob)).await;
        assert_eq!(
            st,
            200,
            "Bob reads his own {}: {}",
            o.path,
            String::from_utf8_lossy(&bytes)
        );
    }
    // Bob's mails are all delivered first, so that his view only changes if Alice changes it.
    all_mail_sent(s, &bob).await;
    let before = bobs_view(s, &reads, &bob).await;

    // Bob's words that must never reach Alice.
    let secrets: Vec<String> = ids
        .values()
        .cloned()
        .chain(["bob@example.fr".to_owned(), "Bob's private".to_owned()])
        .collect();
    let leaks = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        secrets
            .iter()
            .filter(|s| text.contains(s.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    };

    let mut checked = 0;
    for o in &me {
        // No token: 401, whatever the path.
        let (st, bytes) = raw(s, o, None).await;
        assert_eq!(st, 401, "{} {} without a token", o.method, o.path);
        assert!(leaks(&bytes).is_empty());
        if !o.template.contains('{') {
            continue;
        }
        // Alice with Bob's ids: not found, nothing of Bob's in the answer.
        let (st, bytes) = raw(s, o, Some(&alice)).await;
        assert_eq!(
            st,
            404,
            "{} {} with another account's ids answered {st}: {}",
            o.method,
            o.template,
            String::from_utf8_lossy(&bytes)
        );
        let leaked = leaks(&bytes);
        assert!(
            leaked.is_empty(),
            "{} {} leaked {leaked:?}",
            o.method,
            o.path
        );
        checked += 1;
    }
    assert!(checked >= 20, "{checked} /me routes with ids checked");

    let bob_api_token = ids["api-token-secret"].as_str();
    for o in &admin {
        for (who, token) in [
            ("a customer", Some(alice.as_str())),
            ("a personal API token", Some(bob_api_token)),
            ("nobody", None),
        ] {
            let (st, bytes) = raw(s, o, token).await;
            assert!(
                st == 401 || st == 403,
                "{} {} as {who} answered {st}: {}",
                o.method,
                o.path,
                String::from_utf8_lossy(&bytes)
            );
            let leaked = leaks(&bytes);
            assert!(
                leaked.is_empty(),
                "{} {} leaked {leaked:?}",
                o.method,
                o.path
            );
        }
    }

    // Nothing Alice tried changed anything of Bob's.
    let after = bobs_view(s, &reads, &bob).await;
    assert_eq!(before.len(), after.len());
    for ((path, st0, b0), (_, st1, b1)) in before.iter().zip(&after) {
        assert!(
            st0 == st1 && b0 == b1,
            "Bob's {path} changed: {st0} {} then {st1} {}",
            String::from_utf8_lossy(b0),
            String::from_utf8_lossy(b1)
        );
    }
}
