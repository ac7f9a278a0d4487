//! The catalog as customers and operators see it, its administration (every change audited),
//! and `guichet catalog import`: a TOML file of products and plans, validated whole before
//! anything is written (errors name the line and the field), then applied in one transaction;
//! importing the same file twice changes nothing.

use crate::operators::{self, Operator};
use crate::{App, AppError, Result};
use guichet_domain::FieldError;
use guichet_domain::catalog::{Plan, PlanInput, Product, ProductInput};
use guichet_store::catalog::{self, PlanRow, PriceRow, ProductRow};
use guichet_store::{AnyConnection, Db};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceView {
    /// ISO 4217 code.
    pub currency: String,
    /// Price per period, in minor units.
    pub price_minor: i64,
    pub setup_fee_minor: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanView {
    pub code: String,
    pub name: String,
    /// `P1M`, `P3M`, `P6M`, `P1Y`, `P2Y` or `P3Y`.
    pub period: String,
    pub tax_category: String,
    pub manual_renewal_allowed: bool,
    pub active: bool,
    pub prices: Vec<PriceView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductView {
    pub code: String,
    pub name: String,
    pub category: String,
    pub description: Option<String>,
    /// Delivered at once by the built-in provisioner.
    pub instant: bool,
    pub active: bool,
    pub plans: Vec<PlanView>,
}

/// The whole catalog; `active_only` for customers. `currency` keeps only plans priced in it.
pub async fn list(
    app: &App,
    active_only: bool,
    currency: Option<&str>,
) -> Result<Vec<ProductView>> {
    let currency = match currency {
        None | Some("") => None,
        Some(c) => Some(
            guichet_domain::Currency::parse(c)
                .ok_or_else(|| {
                    AppError::field(
                        "currency",
                        "invalid_currency",
                        "an ISO 4217 currency Guichet bills in is expected",
                    )
                })?
                .code(),
        ),
    };
    let mut c = app.db.conn().await?;
    let products = catalog::products(&mut c, active_only).await?;
    let plans = catalog::plans(&mut c, active_only).await?;
    let mut prices: BTreeMap<String, Vec<PriceView>> = BTreeMap::new();
    for p in catalog::prices(&mut c).await? {
        if currency.is_none_or(|cur| cur == p.currency) {
            prices.entry(p.plan_code).or_default().push(PriceView {
                currency: p.currency,
                price_minor: p.price_minor,
                setup_fee_minor: p.setup_fee_minor,
            });
        }
    }
    let mut by_product: BTreeMap<String, Vec<PlanView>> = BTreeMap::new();
    for p in plans {
        let pr = prices.remove(&p.code).unwrap_or_default();
        if currency.is_some() && pr.is_empty() {
            continue;
        }
        by_product
            .entry(p.product_code.clone())
            .or_default()
            .push(PlanView {
                code: p.code,
                name: p.name,
                period: p.period,
                tax_category: p.tax_category,
                manual_renewal_allowed: p.manual_renewal_allowed == 1,
                active: p.active == 1,
                prices: pr,
            });
    }
    Ok(products
        .into_iter()
        .map(|p| ProductView {
            plans: by_product.remove(&p.code).unwrap_or_default(),
            code: p.code,
            name: p.name,
            category: p.category,
            description: p.description,
            instant: p.instant == 1,
            active: p.active == 1,
        })
        .collect())
}

fn product_row(p: &Product, now: i64) -> ProductRow {
    ProductRow {
        code: p.code.clone(),
        name: p.name.clone(),
        category: p.category.clone(),
        description: p.description.clone(),
        instant: i64::from(p.instant),
        active: i64::from(p.active),
        created_at: now,
        updated_at: now,
    }
}

fn plan_rows(product: &str, p: &Plan, now: i64) -> (PlanRow, Vec<PriceRow>) {
    let row = PlanRow {
        code: p.code.clone(),
        product_code: product.to_owned(),
        name: p.name.clone(),
        period: p.period.code().to_owned(),
        tax_category: p.tax_category.clone(),
        manual_renewal_allowed: i64::from(p.manual_renewal_allowed),
        active: i64::from(p.active),
        created_at: now,
        updated_at: now,
    };
    let prices = p
        .prices
        .iter()
        .map(|(cur, amount)| PriceRow {
            plan_code: p.code.clone(),
            currency: cur.code().to_owned(),
            price_minor: *amount,
            setup_fee_minor: p.setup_fees.get(cur).copied().unwrap_or(0),
        })
        .collect();
    (row, prices)
}

/// Create or replace a product (admin API).
pub async fn put_product(
    app: &App,
    op: &Operator,
    code: &str,
    mut input: ProductInput,
) -> Result<bool> {
    op.require_role(&["billing"])?;
    input.code = code.to_owned();
    let p = input.validate().map_err(AppError::validation)?;
    let mut tx = app.db.begin().await?;
    let changed = catalog::upsert_product(tx.conn(), &product_row(&p, app.now_ms())).await?;
    if changed {
        operators::audit(
            app,
            tx.conn(),
            op,
            "catalog.product.put",
            Some(&p.code),
            Some(p.name.clone()),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Create or replace a plan of a product (admin API).
pub async fn put_plan(
    app: &App,
    op: &Operator,
    product: &str,
    code: &str,
    mut input: PlanInput,
) -> Result<bool> {
    op.require_role(&["billing"])?;
    input.code = code.to_owned();
    let p = input.validate().map_err(AppError::validation)?;
    let mut tx = app.db.begin().await?;
    if catalog::product(tx.conn(), product).await?.is_none() {
        return Err(AppError::not_found("product_not_found"));
    }
    if let Some(existing) = catalog::plan(tx.conn(), code).await?
        && existing.product_code != product
    {
        return Err(AppError::conflict(
            "plan_of_another_product",
            "this plan code belongs to another product",
        ));
    }
    let (row, prices) = plan_rows(product, &p, app.now_ms());
    let changed = catalog::upsert_plan(tx.conn(), &row, &prices).await?;
    if changed {
        operators::audit(
            app,
            tx.conn(),
            op,
            "catalog.plan.put",
            Some(&p.code),
            Some(format!("{product}: {}", p.name)),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Withdraw a product or a plan from sale (kept for the orders and services that use it).
pub async fn deactivate(app: &App, op: &Operator, product: &str, plan: Option<&str>) -> Result<()> {
    op.require_role(&["billing"])?;
    let now = app.now_ms();
    let mut tx = app.db.begin().await?;
    let found = match plan {
        None => catalog::set_product_active(tx.conn(), product, false, now).await?,
        Some(code) => {
            let belongs = catalog::plan(tx.conn(), code)
                .await?
                .is_some_and(|p| p.product_code == product);
            belongs && catalog::set_plan_active(tx.conn(), code, false, now).await?
        }
    };
    if !found {
        return Err(AppError::not_found(if plan.is_some() {
            "plan_not_found"
        } else {
            "product_not_found"
        }));
    }
    operators::audit(
        app,
        tx.conn(),
        op,
        "catalog.deactivate",
        Some(plan.unwrap_or(product)),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A catalog file: `[[product]]` tables, each with `[[product.plan]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    product: Vec<toml::Spanned<FileProduct>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProduct {
    code: String,
    name: String,
    category: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    instant: bool,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    plan: Vec<toml::Spanned<FilePlan>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePlan {
    code: String,
    name: String,
    period: String,
    prices: BTreeMap<String, i64>,
    #[serde(default)]
    setup_fees: BTreeMap<String, i64>,
    #[serde(default = "standard")]
    tax_category: String,
    #[serde(default = "yes")]
    manual_renewal_allowed: bool,
    #[serde(default = "yes")]
    active: bool,
}

fn standard() -> String {
    "standard".into()
}

/// One problem in a catalog file.
#[derive(Debug, Clone, Serialize)]
pub struct ImportError {
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(f, "line {}: {}: {}", self.line, self.field, self.message)
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    pub products: usize,
    pub plans: usize,
    /// Products and plans created or changed by this import (0 when run again).
    pub changed: usize,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// The line where `field` (its first segment) is assigned in the table that starts at `span`
/// (up to the next table header); else the table's own line.
fn field_line(text: &str, span: std::ops::Range<usize>, field: &str) -> usize {
    let key = field.split('.').next().unwrap_or(field);
    let start = span.start.min(text.len());
    let mut offset = start;
    for (i, l) in text[start..].split_inclusive('\n').enumerate() {
        let t = l.trim_start();
        if i > 0 && t.starts_with('[') {
            break;
        }
        if !key.is_empty() && t.starts_with(key) && t[key.len()..].trim_start().starts_with('=') {
            return line_of(text, offset);
        }
        offset += l.len();
    }
    line_of(text, start)
}

type Parsed = Vec<(Product, Vec<Plan>)>;

/// Parse and validate a whole catalog file; every problem is reported, with its line.
pub fn parse_catalog(text: &str) -> std::result::Result<Parsed, Vec<ImportError>> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| {
        vec![ImportError {
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
            field: String::new(),
            message: e.message().to_owned(),
        }]
    })?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut seen_products = std::collections::BTreeSet::new();
    let mut seen_plans = std::collections::BTreeSet::new();
    let push = |errors: &mut Vec<ImportError>,
                span: std::ops::Range<usize>,
                prefix: &str,
                fe: Vec<FieldError>| {
        for f in fe {
            errors.push(ImportError {
                line: field_line(text, span.clone(), &f.field),
                field: format!("{prefix}{}", f.field),
                message: f.message,
            });
        }
    };
    for sp in &file.product {
        let span = sp.span();
        let fp = sp.get_ref();
        let input = ProductInput {
            code: fp.code.clone(),
            name: fp.name.clone(),
            category: fp.category.clone(),
            description: fp.description.clone(),
            instant: fp.instant,
            active: fp.active,
        };
        let product = match input.validate() {
            Ok(p) => Some(p),
            Err(fe) => {
                push(&mut errors, span.clone(), "product.", fe);
                None
            }
        };
        if !seen_products.insert(fp.code.clone()) {
            errors.push(ImportError {
                line: field_line(text, span.clone(), "code"),
                field: "product.code".into(),
                message: format!("product {} appears twice", fp.code),
            });
        }
        let mut plans = Vec::new();
        for pp in &fp.plan {
            let pspan = pp.span();
            let p = pp.get_ref();
            let input = PlanInput {
                code: p.code.clone(),
                name: p.name.clone(),
                period: p.period.clone(),
                prices: p.prices.clone(),
                setup_fees: p.setup_fees.clone(),
                tax_category: p.tax_category.clone(),
                manual_renewal_allowed: p.manual_renewal_allowed,
                active: p.active,
            };
            match input.validate() {
                Ok(plan) => plans.push(plan),
                Err(fe) => push(&mut errors, pspan.clone(), "plan.", fe),
            }
            if !seen_plans.insert(p.code.clone()) {
                errors.push(ImportError {
                    line: field_line(text, pspan, "code"),
                    field: "plan.code".into(),
                    message: format!("plan {} appears twice", p.code),
                });
            }
        }
        if let Some(p) = product {
            out.push((p, plans));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Import a catalog file: all or nothing, idempotent. `progress` is called after each product.
pub async fn import(
    db: &Db,
    now: i64,
    actor: &str,
    text: &str,
    mut progress: impl FnMut(usize, usize),
) -> std::result::Result<ImportSummary, ImportOutcome> {
    let parsed = parse_catalog(text).map_err(ImportOutcome::Invalid)?;
    let mut summary = ImportSummary::default();
    let mut tx = db
        .begin()
        .await
        .map_err(|e| ImportOutcome::Failed(e.into()))?;
    let total = parsed.len();
    for (i, (product, plans)) in parsed.iter().enumerate() {
        let r: Result<()> = async {
            let c: &mut AnyConnection = tx.conn();
            if catalog::upsert_product(c, &product_row(product, now)).await? {
                summary.changed += 1;
            }
            for plan in plans {
                if let Some(existing) = catalog::plan(&mut *c, &plan.code).await?
                    && existing.product_code != product.code
                {
                    return Err(AppError::conflict(
                        "plan_of_another_product",
                        format!(
                            "plan {} belongs to product {}",
                            plan.code, existing.product_code
                        ),
                    ));
                }
                let (row, prices) = plan_rows(&product.code, plan, now);
                if catalog::upsert_plan(&mut *c, &row, &prices).await? {
                    summary.changed += 1;
                }
            }
            Ok(())
        }
        .await;
        r.map_err(ImportOutcome::Failed)?;
        summary.products += 1;
        summary.plans += plans.len();
        progress(i + 1, total);
    }
    if summary.changed > 0 {
        guichet_store::operators::audit(
            tx.conn(),
            &guichet_store::operators::AuditRow {
                id: crate::ids::new_id(now),
                actor: actor.to_owned(),
                action: "catalog.import".into(),
                subject: None,
                details: Some(format!(
                    "{} products, {} plans, {} changed",
                    summary.products, summary.plans, summary.changed
                )),
                created_at: now,
            },
        )
        .await
        .map_err(|e| ImportOutcome::Failed(e.into()))?;
    }
    tx.commit()
        .await
        .map_err(|e| ImportOutcome::Failed(e.into()))?;
    Ok(summary)
}

#[derive(Debug)]
pub enum ImportOutcome {
    Invalid(Vec<ImportError>),
    Failed(AppError),
}

/// The demo catalog (VPS, web hosting, domain names, dedicated servers; monthly and yearly).
pub const DEMO_CATALOG: &str = include_str!("demo_catalog.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_catalog_is_valid() {
        let parsed = parse_catalog(DEMO_CATALOG).unwrap();
        let codes: Vec<_> = parsed.iter().map(|(p, _)| p.category.as_str()).collect();
        for c in ["vps", "web_hosting", "domain", "dedicated_server"] {
            assert!(codes.contains(&c), "{c}");
        }
        assert!(parsed.iter().all(|(_, plans)| !plans.is_empty()));
    }

    #[test]
    fn errors_name_line_and_field() {
        let text = "[[product]]\ncode = \"vps\"\nname = \"VPS\"\ncategory = \"vps\"\n\n[[product.plan]]\ncode = \"vps-m\"\nname = \"VPS M\"\nperiod = \"P2W\"\nprices = { EUR = 500 }\n";
        let errs = parse_catalog(text).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].line, errs[0].field.as_str()), (9, "plan.period"));
        let errs = parse_catalog("[[product]]\ncode = \"vps\"\nname = 3\n").unwrap_err();
        assert_eq!(errs[0].line, 3, "{errs:?}");
        let errs = parse_catalog(
            "[[product]]\ncode = \"vps\"\nname = \"VPS\"\ncategory = \"vps\"\ncolour = \"red\"\n",
        )
        .unwrap_err();
        assert!(errs[0].message.contains("colour"), "{errs:?}");
    }
}
