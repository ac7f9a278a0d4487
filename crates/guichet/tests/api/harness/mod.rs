//! The test harness: a server process, a fresh database per test, an SMTP sink.

pub mod receiver;
pub mod smtp;
pub mod stripe;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use smtp::SmtpSink;

pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Run a scenario once per backend, as two tests.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::harness::Backend::Postgres).await
                }
            }
        )*
    };
}

fn pg_admin_url() -> String {
    std::env::var("GUICHET_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database: a temporary directory (SQLite) or a new PostgreSQL database, dropped at
/// the end of the test.
pub struct TestDb {
    pub url: String,
    pub dir: std::path::PathBuf,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir =
            std::env::temp_dir().join(format!("guichet-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.join("guichet.db").display());
                Self {
                    url,
                    dir,
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                use sqlx::{Connection, Executor};
                let admin = pg_admin_url();
                let mut c = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is required for the tests at {admin} (set GUICHET_TEST_PG_URL): {e}")
                });
                let name = format!("guichet_test_{}", uuid::Uuid::new_v4().simple());
                c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create database");
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .expect("database URL with a path");
                Self {
                    url: format!("{base}/{name}"),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(name) = self.pg_name.take() {
            let admin = pg_admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    use sqlx::{Connection, Executor};
                    let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
                    c.execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await
                    .ok()
                })
            })
            .join();
        }
    }
}

/// A running `guichet serve`.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub env: Vec<(String, String)>,
    pub client: reqwest::Client,
}

impl Server {
    /// Start a sandbox server on `db`, delivering mail to `smtp` when given.
    pub fn start(db: &TestDb, smtp: Option<&SmtpSink>) -> Self {
        Self::start_extra(db, smtp, Vec::new())
    }

    pub fn start_extra(db: &TestDb, smtp: Option<&SmtpSink>, extra: Vec<(String, String)>) -> Self {
        let mut env = vec![
            ("GUICHET_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            ("GUICHET_DATA_DIR".to_owned(), db.dir.display().to_string()),
            ("GUICHET_DATABASE_URL".to_owned(), db.url.clone()),
            ("GUICHET_SANDBOX".to_owned(), "1".to_owned()),
            (
                "GUICHET_DATABASE_MAX_CONNECTIONS".to_owned(),
                "8".to_owned(),
            ),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
            (
                "GUICHET_SELLER_NAME".to_owned(),
                "Guichet Test Hosting SAS".to_owned(),
            ),
            (
                "GUICHET_SELLER_ADDRESS".to_owned(),
                "1 place de la Bourse".to_owned(),
            ),
            ("GUICHET_SELLER_POSTAL_CODE".to_owned(), "69002".to_owned()),
            ("GUICHET_SELLER_CITY".to_owned(), "Lyon".to_owned()),
            (
                "GUICHET_SELLER_VAT_NUMBER".to_owned(),
                "FR40303265045".to_owned(),
            ),
            (
                "GUICHET_SELLER_LEGAL_IDS".to_owned(),
                "SIREN=303265045;RCS=Lyon B 303 265 045".to_owned(),
            ),
        ];
        if let Some(s) = smtp {
            env.push(("GUICHET_SMTP_URL".to_owned(), format!("smtp://{}", s.addr)));
        }
        env.extend(extra);
        Self::start_with(env)
    }

    pub fn start_with(env: Vec<(String, String)>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let (child, base) = spawn(&env);
        Self {
            child: Some(child),
            base,
            env,
            client,
        }
    }

    /// Stop the process as a crash would (SIGKILL).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again with the same environment (a new port).
    pub fn restart(&mut self) {
        self.kill9();
        let (child, base) = spawn(&self.env);
        self.child = Some(child);
        self.base = base;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Run `guichet <args>` against the same configuration (for CLI commands).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
            .args(args)
            .env_remove("GUICHET_SMTP_URL")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run guichet");
        assert!(
            out.status.success(),
            "guichet {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Run `guichet <args>` and return its whole output, success or not.
    pub fn cli_output(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_guichet"))
            .args(args)
            .env_remove("GUICHET_SMTP_URL")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run guichet")
    }

    pub fn operator_key(&self) -> String {
        self.cli(&[
            "operator",
            "create-key",
            "--name",
            "tests",
            "--role",
            "admin",
        ])
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.client.request(m, self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        assert!(status < 500, "{method} {path} answered {status}: {v}");
        (status, v)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call("GET", path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call("POST", path, token, Some(body)).await
    }

    /// Sign up, follow the mailed link, log in: returns the session token.
    pub async fn customer(&self, smtp: &SmtpSink, email: &str) -> String {
        let (s, v) = self.post("/api/v1/signup", None, signup_body(email)).await;
        assert_eq!(s, 201, "{v}");
        let token = smtp.wait_for_token(email, "/verify-email?token=").await;
        let (s, v) = self
            .post("/api/v1/auth/verify-email", None, json!({"token": token}))
            .await;
        assert_eq!(s, 200, "{v}");
        self.login(email, PASSWORD).await
    }

    /// The kinds of the account's security events, newest first.
    pub async fn event_kinds(&self, token: &str) -> Vec<String> {
        let (_, events) = self
            .get("/api/v1/me/security/events?limit=200", Some(token))
            .await;
        events
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["kind"].as_str().expect("kind").to_owned())
            .collect()
    }

    /// The newest sandbox SMS to `phone` that differs from `not`, as its 6-digit code.
    pub async fn sms_code(&self, op: &str, phone: &str, not: Option<&str>) -> String {
        eventually(20, "a sandbox SMS", || async {
            let path = format!(
                "/api/v1/admin/sandbox/sms?phone={}",
                phone.replace('+', "%2B")
            );
            let (_, list) = self.get(&path, Some(op)).await;
            let body = list.as_array()?.first()?["body"].as_str()?.to_owned();
            let code = body
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)?
                .to_owned();
            (Some(code.as_str()) != not).then_some(code)
        })
        .await
    }

    /// A sandbox gateway token for a test card valid through `month`/`year`.
    pub async fn card_token_until(&self, number: &str, month: i64, year: i64) -> String {
        let (st, v) = self
            .post(
                "/api/v1/sandbox/gateway/tokens",
                None,
                json!({"number": number, "exp_month": month, "exp_year": year, "cvc": "123"}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        assert!(v.get("number").is_none(), "the card number is never echoed");
        v["token"].as_str().expect("token").to_owned()
    }

    /// A sandbox gateway token for a test card that does not expire soon.
    pub async fn card_token(&self, number: &str) -> String {
        self.card_token_until(number, 12, 2099).await
    }

    /// An instant product `mail` with a yearly plan `mail-yearly` at `prices` (per currency).
    pub async fn mail_plan(&self, op: &str, prices: Value) {
        let (st, v) = self
            .call(
                "PUT",
                "/api/v1/admin/catalog/products/mail",
                Some(op),
                Some(json!({"name": "Mailbox", "category": "email", "instant": true})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = self
            .call(
                "PUT",
                "/api/v1/admin/catalog/products/mail/plans/mail-yearly",
                Some(op),
                Some(json!({"name": "Mailbox 10 GB", "period": "P1Y", "prices": prices})),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (s, v) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["token"].as_str().expect("token").to_owned()
    }
}

fn spawn(env: &[(String, String)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("serve")
        .env_remove("GUICHET_SMTP_URL")
        .env_remove("GUICHET_PUBLIC_URL")
        .env_remove("GUICHET_CONFIG")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start guichet");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(l)) = lines.next() {
            let _ = tx.send(l);
        }
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server did not print its address in time");
    let base = line
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    (child, base)
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn signup_body(email: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "first_name": "Zoé",
        "last_name": "Martin",
        "country": "FR",
        "address_line1": "12 rue des Lilas",
        "postal_code": "69003",
        "city": "Lyon"
    })
}

/// Poll `f` until it returns `Some`, or panic after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Everything needed for one scenario: a database, an SMTP sink and a server on them.
pub struct World {
    pub server: Server,
    pub smtp: SmtpSink,
    /// Dropped last, after the server has stopped.
    pub _db: TestDb,
}

impl World {
    pub async fn new(backend: Backend) -> Self {
        Self::with_env(backend, Vec::new()).await
    }

    /// A world whose server charges through Stripe, here the Stripe-shaped fake (started
    /// first, on a random port), with a 1-second Stripe timeout so the fake's slow card loses
    /// its answer.
    pub async fn with_stripe(backend: Backend) -> (Self, stripe::Fake) {
        let fake = stripe::Fake::start().await;
        let env = [
            ("GUICHET_GATEWAY", "stripe"),
            ("GUICHET_STRIPE_SECRET_KEY", stripe::SECRET),
            ("GUICHET_STRIPE_PUBLISHABLE_KEY", "pk_test_51GuichetFake"),
            ("GUICHET_STRIPE_API_URL", fake.url.as_str()),
            ("GUICHET_STRIPE_TIMEOUT_MS", "1000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        (Self::with_env(backend, env).await, fake)
    }

    /// A world whose server gets `extra` environment variables on top of the defaults.
    pub async fn with_env(backend: Backend, extra: Vec<(String, String)>) -> Self {
        let db = TestDb::new(backend).await;
        let smtp = SmtpSink::start().await;
        let server = Server::start_extra(&db, Some(&smtp), extra);
        Self {
            server,
            smtp,
            _db: db,
        }
    }
}
