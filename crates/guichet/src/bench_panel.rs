//! `guichet bench panel`: the server-side render time of each customer-panel page at demo
//! scale (the demo customer with a card, a few delivered services, orders, invoices and
//! mails), measured in-process through the whole router, and each page's weight (HTML plus
//! the style sheet and htmx it loads). Prints figures; asserts nothing.

use crate::config::Config;
use anyhow::{Context, Result, anyhow};
use axum::body::Body;
use axum::http::{Request, header};
use guichet_app::accounts::RequestCtx;
use guichet_app::orders::{NewLine, NewOrder};
use guichet_app::payment_methods::NewMethod;
use guichet_app::payments::PayInput;
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn err(e: guichet_app::AppError) -> anyhow::Error {
    anyhow!("{} ({})", e.message, e.code)
}

/// The demo customer's data: a card and `orders` paid VPS and web-hosting orders.
async fn seed(app: &guichet_app::App, orders: usize) -> Result<String> {
    guichet_app::demo::seed(app).await.map_err(err)?;
    guichet_app::catalog::import(
        &app.db,
        app.now_ms(),
        "demo",
        guichet_app::catalog::DEMO_CATALOG,
        |_, _| {},
    )
    .await
    .map_err(|_| anyhow!("demo catalog"))?;
    let ctx = RequestCtx::default();
    let login = guichet_app::auth::login(
        app,
        guichet_app::demo::DEMO_EMAIL,
        guichet_app::demo::DEMO_PASSWORD,
        &ctx,
    )
    .await
    .map_err(err)?;
    let token = login.token.context("a session token")?;
    let p = guichet_app::auth::authenticate(app, &token)
        .await
        .map_err(err)?;
    let card = guichet_app::gateway::sandbox_tokenize(app, "4242424242424242", 12, 2099, "123")
        .await
        .map_err(err)?;
    guichet_app::payment_methods::add(
        app,
        &p.account_id,
        &NewMethod {
            kind: "card".into(),
            token: Some(card.token),
            iban: None,
            holder_name: None,
            make_default: Some(true),
        },
        &ctx,
    )
    .await
    .map_err(err)?;
    let plans = ["vps-s-monthly", "vps-m-yearly", "web-perso-monthly"];
    for i in 0..orders {
        let plan = plans[i % plans.len()];
        let o = guichet_app::orders::create(
            app,
            &p.account,
            &NewOrder {
                lines: vec![NewLine {
                    plan: plan.into(),
                    period: None,
                    quantity: Some(1),
                    domain: plan.starts_with("web").then(|| format!("site{i}.example")),
                }],
                currency: None,
            },
        )
        .await
        .map_err(err)?;
        guichet_app::payments::pay_order(
            app,
            &p.account_id,
            &o.id,
            &PayInput {
                payment_method_id: None,
                source: None,
            },
        )
        .await
        .map_err(err)?;
    }
    // One unpaid order, as a customer usually has.
    guichet_app::orders::create(
        app,
        &p.account,
        &NewOrder {
            lines: vec![NewLine {
                plan: "vps-s-monthly".into(),
                period: None,
                quantity: Some(1),
                domain: None,
            }],
            currency: None,
        },
    )
    .await
    .map_err(err)?;
    Ok(token)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

pub async fn run(iterations: usize, orders: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("guichet-bench-panel-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let c = Config {
        sandbox: true,
        builtin_provisioner_all: true,
        data_dir: dir.clone(),
        database_url: Some(format!("sqlite://{}", dir.join("bench.db").display())),
        seller_name: Some("Guichet Bench Hosting SAS".into()),
        seller_address: vec!["1 place de la Bourse".into()],
        seller_postal_code: Some("69002".into()),
        seller_city: Some("Lyon".into()),
        seller_vat_number: Some("FR40303265045".into()),
        ..Default::default()
    };
    let app = crate::serve::build_app(&c, "http://127.0.0.1".into()).await?;
    let token = seed(&app, orders).await?;
    // Let the worker deliver the paid orders with the built-in provisioner.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(guichet_app::worker::run(app.clone(), stop_rx));
    let account = guichet_app::auth::authenticate(&app, &token)
        .await
        .map_err(err)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let services = loop {
        let s = guichet_app::services::list(&app, &account.account_id)
            .await
            .map_err(err)?;
        if s.len() >= orders || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let order_list = guichet_app::orders::list(&app, Some(&account.account_id), None, 10)
        .await
        .map_err(err)?;
    let mails = guichet_app::mailbox::list(&app, &account, None, 1)
        .await
        .map_err(err)?;
    let router = guichet_http::router(guichet_http::AppState {
        app: app.clone(),
        metrics: None,
    });
    let mut pages: Vec<(String, bool)> = [
        "/login",
        "/signup",
        "/dashboard",
        "/services",
        "/order",
        "/orders",
        "/invoices",
        "/payment-methods",
        "/emails",
        "/phishing",
    ]
    .iter()
    .map(|p| ((*p).to_owned(), *p != "/login" && *p != "/signup"))
    .collect();
    if let Some(s) = services.first() {
        pages.push((format!("/services/{}", s.id), true));
    }
    if let Some(o) = order_list.first() {
        pages.push((format!("/orders/{}", o.id), true));
    }
    if let Some(m) = mails.items.first() {
        pages.push((format!("/emails/{}", m.id), true));
    }
    let assets = guichet_http::panel::assets::CSS.len() + guichet_http::panel::assets::HTMX.len();
    println!(
        "customer panel, demo scale: {} services, {} orders, {} iterations per page, in-process through the router ({} build, {})",
        services.len(),
        order_list.len(),
        iterations,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        app.db.backend().as_str()
    );
    println!(
        "{:<52} {:>10} {:>10} {:>10} {:>12}",
        "page", "median ms", "p99 ms", "HTML KB", "total KB"
    );
    for (path, signed_in) in pages {
        let mut times = Vec::with_capacity(iterations);
        let mut size = 0;
        for i in 0..iterations + 5 {
            let mut req = Request::builder().uri(&path);
            if signed_in {
                req = req.header(header::COOKIE, format!("guichet_session={token}"));
            }
            let req = req.body(Body::empty())?;
            let t = Instant::now();
            let resp = router.clone().oneshot(req).await?;
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), 4 << 20).await?;
            let dt = t.elapsed();
            if !status.is_success() {
                anyhow::bail!("{path} answered {status}");
            }
            size = body.len();
            if i >= 5 {
                times.push(dt);
            }
        }
        times.sort();
        println!(
            "{:<52} {:>10.2} {:>10.2} {:>10.1} {:>12.1}",
            path,
            pct(&times, 0.5),
            pct(&times, 0.99),
            size as f64 / 1024.0,
            (size + assets) as f64 / 1024.0
        );
    }
    println!(
        "assets loaded by every page: panel.css {:.1} KB + htmx {:.1} KB (cached for a year)",
        guichet_http::panel::assets::CSS.len() as f64 / 1024.0,
        guichet_http::panel::assets::HTMX.len() as f64 / 1024.0
    );
    app.db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
