//! `guichet migrate-data --from URL --to URL`: moves a whole installation to another database
//! (typically SQLite to PostgreSQL). The target is migrated to the same schema version, must
//! be empty, and receives every table in one transaction (all or nothing); counters such as
//! invoice sequences are rows and travel with the rest. Row counts are compared at the end.

use anyhow::{Context, Result, bail};
use guichet_store::{Db, DbOptions, copy, redact_url};

async fn open(url: &str, what: &str) -> Result<Db> {
    let opts = DbOptions {
        max_connections: 2,
        ..Default::default()
    };
    let db = Db::connect(url, &opts)
        .await
        .with_context(|| format!("connecting to the {what} {}", redact_url(url)))?;
    Ok(db)
}

pub async fn run(from: &str, to: &str) -> Result<()> {
    if from == to {
        bail!("--from and --to name the same database");
    }
    if from.starts_with("sqlite:") {
        let path = from
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default();
        if !std::path::Path::new(path).exists() {
            bail!("the source database {path} does not exist");
        }
    }
    let src = open(from, "source").await?;
    let dst = open(to, "target").await?;
    dst.migrate().await.context("migrating the target")?;
    let (have, want) = (
        copy::applied_migrations(&src)
            .await
            .context("reading the source's schema version")?,
        copy::applied_migrations(&dst).await?,
    );
    if have != want {
        bail!(
            "the source's schema ({} migrations) differs from this version's ({}): run `guichet migrate` on the source first",
            have.len(),
            want.len()
        );
    }
    let tables = copy::tables(&src)
        .await
        .context("reading the source's tables")?;
    let target_tables = copy::tables(&dst).await?;
    for t in &tables {
        let Some(d) = target_tables.iter().find(|d| d.name == t.name) else {
            bail!("table {} is missing on the target", t.name);
        };
        if d.columns
            .iter()
            .map(|c| &c.0)
            .ne(t.columns.iter().map(|c| &c.0))
        {
            bail!("table {} has other columns on the target", t.name);
        }
    }
    {
        let mut c = dst.conn().await?;
        for t in &target_tables {
            let n = copy::count(&mut c, &t.name).await?;
            if n > 0 {
                bail!(
                    "the target is not empty ({} has {n} rows): migrate-data only fills a fresh database",
                    t.name
                );
            }
        }
    }

    // A consistent picture of the source, whatever else is connected to it.
    let mut read = copy::snapshot(&src).await?;
    let mut tx = dst.begin().await?;
    let mut copied = Vec::new();
    for t in &tables {
        let n = copy::copy_table(&mut read, tx.conn(), t)
            .await
            .with_context(|| format!("copying {}", t.name))?;
        copied.push((t.name.clone(), n));
    }
    tx.commit().await.context("committing on the target")?;
    copy::end_snapshot(read).await?;

    let mut sc = src.conn().await?;
    let mut dc = dst.conn().await?;
    let mut total = 0;
    println!("{:<28} {:>10}", "table", "rows");
    for (name, n) in &copied {
        let (a, b) = (
            copy::count(&mut sc, name).await?,
            copy::count(&mut dc, name).await?,
        );
        if a != b || b != *n as i64 {
            bail!("{name}: {a} rows in the source, {b} on the target after the copy");
        }
        total += n;
        println!("{name:<28} {n:>10}");
    }
    drop((sc, dc));
    src.close().await;
    dst.close().await;
    println!(
        "copied {total} rows in {} tables from {} to {}",
        copied.len(),
        src.backend().as_str(),
        dst.backend().as_str()
    );
    Ok(())
}
