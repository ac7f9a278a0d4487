//! The crash harness: 50,000 services due for renewal today (the issue asks for 10,000; with
//! the batch path, the lookup indexes and the batched planner a debug build renews 30,000
//! before a hundred kills land mid-run), `guichet billing run` processes
//! killed with SIGKILL at random moments a hundred times (on PostgreSQL, two processes at once
//! on one database, each killed in turn), then a last run to the end. Afterwards, read from
//! the database itself: every service renewed exactly once, one renewal order, one charge at
//! the gateway and one invoice per service, invoice numbers gapless, each mail and webhook
//! once, no job given up.

use crate::both_backends;
use crate::harness::{Backend, Server, TestDb};
use sqlx::{Connection, Row};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

both_backends!(killed_billing_runs_renew_everything_once);

const SERVICES: i64 = 50_000;
const KILLS: usize = 100;

/// A `guichet billing run`; the last runs (with `until`) keep their error output, which the
/// test runner shows if they fail (the killed ones would only add noise).
fn billing_run(env: &[(String, String)], until: Option<&str>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_guichet"));
    cmd.args(["billing", "run"]);
    if let Some(u) = until {
        cmd.args(["--until", u]);
    }
    cmd.env_remove("GUICHET_SMTP_URL")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(if until.is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("start guichet billing run")
}

/// A small deterministic generator, so a failing run can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

async fn scalar(c: &mut sqlx::AnyConnection, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get::<i64, _>(0)
}

async fn killed_billing_runs_renew_everything_once(b: Backend) {
    let db = TestDb::new(b).await;
    // Started once for its migrations and environment, then stopped: only the killed
    // billing runs do the work.
    let mut server = Server::start(&db, None);
    server.kill9();
    let env = server.env.clone();
    server.cli(&[
        "bench",
        "seed-renewals",
        "--services",
        &SERVICES.to_string(),
    ]);
    let workers = match b {
        Backend::Sqlite => 1,
        Backend::Postgres => 2,
    };
    let mut rng = Lcg(0x6775_6963_6865_7421);
    let mut kills = 0;
    let mut finished_alone = 0;
    while kills < KILLS {
        let mut children: Vec<Child> = (0..workers).map(|_| billing_run(&env, None)).collect();
        for child in &mut children {
            // Long enough to start and do some work, short enough to die mid-way: a hundred
            // kills must land before the services run out.
            std::thread::sleep(Duration::from_millis(20 + rng.next(150)));
            if child.try_wait().ok().flatten().is_none() {
                kills += 1;
            } else {
                finished_alone += 1;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Runs that end before their kill mean the work is done: more kills would hit idle
        // processes, and the harness would prove nothing (nor end).
        assert!(
            finished_alone < 20,
            "the billing runs finished after {kills} kills: the kill delays are too long for \
             this machine"
        );
    }
    // The last run goes to the end, two days on (sandbox clock): the leases of the killed
    // processes have lapsed by then and their payments are settled from the gateway.
    let today = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date();
    let until = today.saturating_add(jiff::Span::new().days(2)).to_string();
    let mut last: Vec<Child> = (0..workers)
        .map(|_| billing_run(&env, Some(&until)))
        .collect();
    for child in &mut last {
        let status = child.wait().expect("last run");
        assert!(status.success(), "the last billing run failed");
    }

    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("connect");
    let n = SERVICES;
    assert_eq!(scalar(&mut c, "SELECT COUNT(*) FROM services").await, n);
    // Renewed exactly once: every service moved on by one month, and only one.
    let distinct = scalar(&mut c, "SELECT COUNT(DISTINCT expires_on) FROM services").await;
    assert_eq!(distinct, 1, "all services share one new expiration");
    assert_eq!(
        scalar(
            &mut c,
            "SELECT COUNT(*) FROM services WHERE state = 'active' AND expires_on > next_step_on"
        )
        .await,
        n
    );
    // The renewal set each service's next look to its new cycle's first step (the charge at
    // E − 7), so that no later pass reads it only to find nothing due.
    let looks = sqlx::query("SELECT DISTINCT expires_on, next_step_on FROM services")
        .fetch_all(&mut c)
        .await
        .expect("next looks");
    assert_eq!(looks.len(), 1, "one expiration, one next look");
    let (e, next): (String, String) = (looks[0].get(0), looks[0].get(1));
    let e: jiff::civil::Date = e.parse().expect("expiration");
    assert_eq!(
        next,
        e.saturating_sub(jiff::Span::new().days(7)).to_string()
    );
    assert_eq!(
        scalar(&mut c, "SELECT COUNT(*) FROM orders WHERE kind = 'renewal'").await,
        n,
        "one renewal order per service"
    );
    assert_eq!(
        scalar(
            &mut c,
            "SELECT COUNT(*) FROM orders WHERE kind = 'renewal' AND status = 'delivered'"
        )
        .await,
        n
    );
    assert_eq!(
        scalar(&mut c, "SELECT COUNT(*) FROM sandbox_charges").await,
        n,
        "one charge per order at the gateway"
    );
    assert_eq!(
        scalar(
            &mut c,
            "SELECT COUNT(*) FROM payments WHERE state = 'succeeded'"
        )
        .await,
        n
    );
    assert_eq!(
        scalar(
            &mut c,
            "SELECT COUNT(*) FROM invoices WHERE kind = 'invoice'"
        )
        .await,
        n,
        "one invoice per renewal"
    );
    assert_eq!(
        scalar(
            &mut c,
            "SELECT COUNT(DISTINCT order_id) FROM invoices WHERE kind = 'invoice'"
        )
        .await,
        n
    );
    // Gapless: in each series and year, numbers 1..=count.
    let rows = sqlx::query(
        "SELECT year, COUNT(*), MIN(seq), MAX(seq) FROM invoices WHERE kind = 'invoice' \
         GROUP BY year",
    )
    .fetch_all(&mut c)
    .await
    .expect("sequences");
    for r in rows {
        let (count, min, max): (i64, i64, i64) = (r.get(1), r.get(2), r.get(3));
        assert_eq!((min, max), (1, count), "invoice numbers are gapless");
    }
    for kind in ["service_renewed", "invoice_issued"] {
        assert_eq!(
            scalar(
                &mut c,
                &format!("SELECT COUNT(*) FROM emails WHERE kind = '{kind}'")
            )
            .await,
            n,
            "each {kind} mail once"
        );
    }
    assert_eq!(
        scalar(
            &mut c,
            "SELECT COUNT(*) FROM webhook_events WHERE kind = 'service.renewed'"
        )
        .await,
        n
    );
    assert_eq!(
        scalar(&mut c, "SELECT COUNT(*) FROM jobs WHERE state = 'failed'").await,
        0
    );
    assert!(kills >= KILLS);
}
