//! The panel's words in French and English: two message catalogs in Fluent's syntax
//! (`locales/{fr,en}.ftl`, simple messages with `{ $name }` placeholders), embedded in the
//! binary, plus money and dates written the way each language writes them.

use guichet_domain::{Currency, Language};
use std::collections::HashMap;
use std::sync::LazyLock;

const FR: &str = include_str!("../../locales/fr.ftl");
const EN: &str = include_str!("../../locales/en.ftl");

/// Parse the subset of Fluent the catalogs use: `key = value` lines, `#` comments, blank
/// lines, and indented continuation lines (joined with a space).
fn parse(src: &'static str) -> HashMap<&'static str, String> {
    let mut out: HashMap<&'static str, String> = HashMap::new();
    let mut last: Option<&'static str> = None;
    for line in src.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with(' ') {
            if let Some(k) = last
                && let Some(v) = out.get_mut(k)
            {
                if !v.is_empty() {
                    v.push(' ');
                }
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim();
            out.insert(k, v.trim().to_owned());
            last = Some(k);
        }
    }
    out
}

static CATALOG_FR: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| parse(FR));
static CATALOG_EN: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| parse(EN));

/// The translator handed to every template.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Language,
}

impl Tr {
    pub fn new(lang: Language) -> Self {
        Self { lang }
    }

    fn catalog(&self) -> &'static HashMap<&'static str, String> {
        match self.lang {
            Language::Fr => &CATALOG_FR,
            Language::En => &CATALOG_EN,
        }
    }

    /// The message `key`; a missing key shows itself (and fails the catalog test).
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        match self.catalog().get(key) {
            Some(v) => v.as_str(),
            None => key,
        }
    }

    /// The message `key` if the catalog has it.
    pub fn try_t(&self, key: &str) -> Option<&'static str> {
        self.catalog().get(key).map(String::as_str)
    }

    /// The message `key` with its `{ $name }` placeholder replaced by `value`.
    pub fn t1(&self, key: &str, name: &str, value: &str) -> String {
        self.t(key)
            .replace(&format!("{{ ${name} }}"), value)
            .replace(&format!("{{${name}}}"), value)
    }

    /// The message `key` with two placeholders.
    pub fn t2(&self, key: &str, a: &str, va: &str, b: &str, vb: &str) -> String {
        self.t1(key, a, va)
            .replace(&format!("{{ ${b} }}"), vb)
            .replace(&format!("{{${b}}}"), vb)
    }

    /// A code (state, status, reason…) as words: `prefix-code`, or the code itself.
    pub fn code(&self, prefix: &str, code: &str) -> String {
        let key = format!("{prefix}-{}", code.replace('_', "-"));
        self.try_t(&key)
            .map(str::to_owned)
            .unwrap_or_else(|| code.to_owned())
    }

    pub fn lang_code(&self) -> &'static str {
        self.lang.as_str()
    }

    /// `1 234,56 €` in French, `€1,234.56` in English.
    pub fn money(&self, minor: i64, currency: &str) -> String {
        money(self.lang, minor, currency)
    }

    /// `2 décembre 2026` / `2 December 2026`, from `YYYY-MM-DD` or an RFC 3339 instant.
    pub fn date(&self, s: &str) -> String {
        date(self.lang, s)
    }

    /// A date with the time of day (UTC) from an RFC 3339 instant.
    pub fn datetime(&self, s: &str) -> String {
        datetime(self.lang, s)
    }
}

fn group(digits: &str, sep: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3 * sep.len());
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

fn symbol(c: Currency) -> Option<&'static str> {
    match c {
        Currency::Eur => Some("€"),
        Currency::Usd => Some("$"),
        Currency::Gbp => Some("£"),
        Currency::Jpy => Some("¥"),
        _ => None,
    }
}

/// Money for people: grouped digits, the locale's decimal mark, the currency's symbol.
pub fn money(lang: Language, minor: i64, currency: &str) -> String {
    let Some(c) = Currency::parse(currency) else {
        return format!("{minor} {currency}");
    };
    let exp = c.exponent();
    let neg = minor < 0;
    let abs = minor.unsigned_abs();
    let div = 10u64.pow(exp);
    let units = (abs / div).to_string();
    let cents = abs % div;
    let (gsep, dsep) = match lang {
        Language::Fr => ("\u{a0}", ","),
        Language::En => (",", "."),
    };
    let mut num = group(&units, gsep);
    if exp > 0 {
        num.push_str(dsep);
        num.push_str(&format!("{cents:0width$}", width = exp as usize));
    }
    let sign = if neg { "-" } else { "" };
    match (lang, symbol(c)) {
        (Language::Fr, Some(s)) => format!("{sign}{num}\u{a0}{s}"),
        (Language::Fr, None) => format!("{sign}{num}\u{a0}{}", c.code()),
        (Language::En, Some(s)) => format!("{sign}{s}{num}"),
        (Language::En, None) => format!("{sign}{}\u{a0}{num}", c.code()),
    }
}

const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The month's name (1 to 12).
pub fn month_name(lang: Language, m: i8) -> &'static str {
    let i = usize::try_from(m.clamp(1, 12) - 1).unwrap_or(0);
    match lang {
        Language::Fr => MONTHS_FR[i],
        Language::En => MONTHS_EN[i],
    }
}

fn civil(s: &str) -> Option<jiff::civil::DateTime> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(jiff::tz::TimeZone::UTC.to_datetime(ts));
    }
    s.get(..10)?
        .parse::<jiff::civil::Date>()
        .ok()
        .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
}

pub fn date(lang: Language, s: &str) -> String {
    match civil(s) {
        Some(d) => format!("{} {} {}", d.day(), month_name(lang, d.month()), d.year()),
        None => s.to_owned(),
    }
}

pub fn datetime(lang: Language, s: &str) -> String {
    match civil(s) {
        Some(d) => {
            let day = date(lang, s);
            match lang {
                Language::Fr => format!("{day} à {:02}:{:02} UTC", d.hour(), d.minute()),
                Language::En => format!("{day}, {:02}:{:02} UTC", d.hour(), d.minute()),
            }
        }
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_have_the_same_keys() {
        let fr = parse(FR);
        let en = parse(EN);
        let mut only_fr: Vec<_> = fr.keys().filter(|k| !en.contains_key(*k)).collect();
        let mut only_en: Vec<_> = en.keys().filter(|k| !fr.contains_key(*k)).collect();
        only_fr.sort();
        only_en.sort();
        assert!(only_fr.is_empty(), "only in fr.ftl: {only_fr:?}");
        assert!(only_en.is_empty(), "only in en.ftl: {only_en:?}");
        assert!(
            fr.values().all(|v| !v.is_empty()),
            "an empty French message"
        );
        assert!(
            en.values().all(|v| !v.is_empty()),
            "an empty English message"
        );
    }

    /// Every `t("…")`, `t1("…"` and `t2("…"` key used by a template or a panel module is in
    /// the catalogs.
    #[test]
    fn every_key_used_exists() {
        let fr = parse(FR);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut missing = Vec::new();
        let mut files = Vec::new();
        for dir in ["templates", "src/panel"] {
            for e in std::fs::read_dir(root.join(dir)).expect("dir") {
                files.push(e.expect("entry").path());
            }
        }
        let mut seen = 0;
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            for pat in [".t(\"", ".t1(\"", ".t2(\""] {
                for (i, _) in text.match_indices(pat) {
                    let rest = &text[i + pat.len()..];
                    let key = &rest[..rest.find('"').unwrap_or(0)];
                    if key.is_empty() || key.contains('{') {
                        continue;
                    }
                    seen += 1;
                    if !fr.contains_key(key) {
                        missing.push(format!("{}: {key}", f.display()));
                    }
                }
            }
        }
        assert!(seen > 50, "the scan found only {seen} keys");
        assert!(
            missing.is_empty(),
            "keys missing from the catalogs: {missing:#?}"
        );
    }

    #[test]
    fn money_per_locale() {
        assert_eq!(money(Language::Fr, 123_456, "EUR"), "1\u{a0}234,56\u{a0}€");
        assert_eq!(money(Language::En, 123_456, "EUR"), "€1,234.56");
        assert_eq!(money(Language::En, 5, "EUR"), "€0.05");
        assert_eq!(
            money(Language::Fr, -100_000_000, "EUR"),
            "-1\u{a0}000\u{a0}000,00\u{a0}€"
        );
        assert_eq!(money(Language::En, 1500, "JPY"), "¥1,500");
        assert_eq!(money(Language::Fr, 1999, "CHF"), "19,99\u{a0}CHF");
    }

    #[test]
    fn dates_per_locale() {
        assert_eq!(date(Language::Fr, "2026-12-02"), "2 décembre 2026");
        assert_eq!(date(Language::En, "2026-12-02"), "2 December 2026");
        assert_eq!(
            date(Language::En, "2026-12-02T10:11:12Z"),
            "2 December 2026"
        );
        assert_eq!(
            datetime(Language::Fr, "2026-12-02T10:11:12Z"),
            "2 décembre 2026 à 10:11 UTC"
        );
        assert_eq!(date(Language::En, "not a date"), "not a date");
    }

    #[test]
    fn placeholders() {
        let t = Tr::new(Language::En);
        assert_eq!(t.t1("dashboard-hello", "name", "Zoé"), "Hello Zoé");
    }
}
