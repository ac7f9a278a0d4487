//! Turns integer amounts, VAT rates and ISO dates into text, exactly (no floats): plain
//! decimals for the XML, localized strings ("1 234,56 €", "€1,234.56") for people.

use crate::Lang;

/// No-break space: keeps "1 234,56 €" on one line and out of word wrapping.
pub(crate) const NBSP: char = '\u{a0}';

/// An amount in minor units as a plain decimal with `exponent` fraction digits:
/// `decimal(-123456, 2)` is `"-1234.56"`, `decimal(5, 3)` is `"0.005"`, `decimal(42, 0)` is `"42"`.
pub(crate) fn decimal(minor: i64, exponent: u32) -> String {
    let (int, frac) = split(minor, exponent);
    let sign = if minor < 0 { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// Integer and fraction digits of |minor| for the exponent, as strings (string arithmetic, so
/// any exponent works and `i64::MIN` does not overflow).
fn split(minor: i64, exponent: u32) -> (String, String) {
    let digits = minor.unsigned_abs().to_string();
    let exp = usize::try_from(exponent).unwrap_or(usize::MAX).min(64);
    if exp == 0 {
        return (digits, String::new());
    }
    let padded = if digits.len() <= exp {
        format!("{}{digits}", "0".repeat(exp + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - exp);
    (int.to_string(), frac.to_string())
}

/// Groups the integer digits by three with `sep`.
fn group(int: &str, sep: &str) -> String {
    let mut out = String::with_capacity(int.len() + int.len() / 3 * sep.len());
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(ch);
    }
    out
}

/// A localized number without currency: `1 234,56` in French, `1,234.56` in English.
pub(crate) fn number(minor: i64, exponent: u32, lang: Lang) -> String {
    let (int, frac) = split(minor, exponent);
    let (sep, point) = match lang {
        Lang::Fr => (NBSP.to_string(), ","),
        Lang::En => (",".to_string(), "."),
    };
    let mut out = String::new();
    if minor < 0 {
        out.push('-');
    }
    out.push_str(&group(&int, &sep));
    if !frac.is_empty() {
        out.push_str(point);
        out.push_str(&frac);
    }
    out
}

/// The symbol people expect for the common currencies; the ISO code otherwise.
fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "EUR" => "€",
        "USD" => "$",
        "GBP" => "£",
        "JPY" => "¥",
        _ => return None,
    })
}

/// A localized amount with its currency: `1 234,56 €` / `€1,234.56`, `1 000 CHF` / `CHF 1,000`.
pub(crate) fn money(minor: i64, exponent: u32, currency: &str, lang: Lang) -> String {
    let signed = number(minor, exponent, lang);
    let n = signed.trim_start_matches('-');
    let sign = if minor < 0 { "-" } else { "" };
    match (lang, symbol(currency)) {
        (Lang::Fr, Some(sym)) => format!("{sign}{n}{NBSP}{sym}"),
        (Lang::Fr, None) => format!("{sign}{n}{NBSP}{currency}"),
        (Lang::En, Some(sym)) => format!("{sign}{sym}{n}"),
        (Lang::En, None) => format!("{sign}{currency}{NBSP}{n}"),
    }
}

/// A VAT rate in basis points as the XML wants it: 2000 → `20.00`, 550 → `5.50`.
pub(crate) fn rate_decimal(bp: u32) -> String {
    format!("{}.{:02}", bp / 100, bp % 100)
}

/// A VAT rate for people, without useless zeros: `20 %`, `5,5 %` (French), `20%`, `5.5%`.
pub(crate) fn rate(bp: u32, lang: Lang) -> String {
    let int = bp / 100;
    let frac = format!("{:02}", bp % 100);
    let frac = frac.trim_end_matches('0');
    let point = match lang {
        Lang::Fr => ",",
        Lang::En => ".",
    };
    let n = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}{point}{frac}")
    };
    match lang {
        Lang::Fr => format!("{n}{NBSP}%"),
        Lang::En => format!("{n}%"),
    }
}

/// A calendar date, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Parses exactly `YYYY-MM-DD` and rejects days that do not exist (2026-02-29).
    pub(crate) fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let part = s.get(r)?;
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let year = num(0..4)?;
        let month = u8::try_from(num(5..7)?).ok()?;
        let day = u8::try_from(num(8..10)?).ok()?;
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if year == 0 || day == 0 || day > days {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// `YYYYMMDD`, the CII "102" format.
    pub(crate) fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `15/01/2026` in French, `15 Jan 2026` in English (no-break spaces).
    pub(crate) fn human(self, lang: Lang) -> String {
        match lang {
            Lang::Fr => format!("{:02}/{:02}/{:04}", self.day, self.month, self.year),
            Lang::En => {
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let m = MONTHS[usize::from(self.month.clamp(1, 12) - 1)];
                format!("{}{NBSP}{m}{NBSP}{:04}", self.day, self.year)
            }
        }
    }
}

/// `YYYYMMDD` from whatever the caller gave, for the infallible XML path: the digits of a
/// valid date, or the digits that are there (render() refuses invalid dates before this).
pub(crate) fn compact_date(s: &str) -> String {
    match Date::parse(s) {
        Some(d) => d.compact(),
        None => s.chars().filter(char::is_ascii_digit).collect(),
    }
}

/// A date for people, or the raw text when it is not a valid date.
pub(crate) fn human_date(s: &str, lang: Lang) -> String {
    Date::parse(s).map_or_else(|| s.to_string(), |d| d.human(lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_for_every_exponent() {
        assert_eq!(decimal(123456, 2), "1234.56");
        assert_eq!(decimal(-123456, 2), "-1234.56");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(-5, 2), "-0.05");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(1200, 0), "1200");
        assert_eq!(decimal(-7, 0), "-7");
        assert_eq!(decimal(1234567, 3), "1234.567");
        assert_eq!(decimal(5, 3), "0.005");
        assert_eq!(decimal(1000, 3), "1.000");
        assert_eq!(decimal(i64::MIN, 2), "-92233720368547758.08");
        assert_eq!(decimal(i64::MAX, 0), "9223372036854775807");
    }

    #[test]
    fn localized_numbers_and_money() {
        assert_eq!(number(123456789, 2, Lang::Fr), "1\u{a0}234\u{a0}567,89");
        assert_eq!(number(123456789, 2, Lang::En), "1,234,567.89");
        assert_eq!(number(100, 2, Lang::En), "1.00");
        assert_eq!(number(999, 0, Lang::Fr), "999");
        assert_eq!(number(1000, 0, Lang::Fr), "1\u{a0}000");
        assert_eq!(money(123456, 2, "EUR", Lang::Fr), "1\u{a0}234,56\u{a0}€");
        assert_eq!(money(123456, 2, "EUR", Lang::En), "€1,234.56");
        assert_eq!(money(-500, 2, "EUR", Lang::Fr), "-5,00\u{a0}€");
        assert_eq!(money(-500, 2, "USD", Lang::En), "-$5.00");
        assert_eq!(money(1500, 0, "JPY", Lang::En), "¥1,500");
        assert_eq!(money(1234567, 3, "KWD", Lang::En), "KWD\u{a0}1,234.567");
        assert_eq!(
            money(1234567, 3, "TND", Lang::Fr),
            "1\u{a0}234,567\u{a0}TND"
        );
        assert_eq!(
            money(i64::MIN, 0, "CHF", Lang::En),
            "-CHF\u{a0}9,223,372,036,854,775,808"
        );
    }

    #[test]
    fn rates() {
        assert_eq!(rate_decimal(2000), "20.00");
        assert_eq!(rate_decimal(550), "5.50");
        assert_eq!(rate_decimal(0), "0.00");
        assert_eq!(rate_decimal(2550), "25.50");
        assert_eq!(rate_decimal(5), "0.05");
        assert_eq!(rate(2000, Lang::Fr), "20\u{a0}%");
        assert_eq!(rate(550, Lang::Fr), "5,5\u{a0}%");
        assert_eq!(rate(550, Lang::En), "5.5%");
        assert_eq!(rate(0, Lang::En), "0%");
        assert_eq!(rate(1, Lang::En), "0.01%");
    }

    #[test]
    fn dates() {
        let d = Date::parse("2026-01-15").expect("valid");
        assert_eq!(d.compact(), "20260115");
        assert_eq!(d.human(Lang::Fr), "15/01/2026");
        assert_eq!(d.human(Lang::En), "15\u{a0}Jan\u{a0}2026");
        assert!(Date::parse("2024-02-29").is_some());
        assert!(Date::parse("2026-02-29").is_none());
        assert!(Date::parse("1900-02-29").is_none());
        assert!(Date::parse("2000-02-29").is_some());
        assert!(Date::parse("2026-04-31").is_none());
        assert!(Date::parse("2026-13-01").is_none());
        assert!(Date::parse("2026-1-15").is_none());
        assert!(Date::parse("2026-01-1x").is_none());
        assert!(Date::parse("+026-01-15").is_none());
        assert_eq!(compact_date("2026-01-15"), "20260115");
    }
}
