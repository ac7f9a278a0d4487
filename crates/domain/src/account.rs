//! Customer accounts: what a sign-up must hold, what a profile change may change, and the
//! small enumerations (kind, state, token scope) that the rest of Guichet reads.

use crate::validation::{self, FieldError, Fields};
use crate::{CountryCode, Currency, EmailAddress, Language, Password};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Individual,
    Company,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Individual => "individual",
            AccountKind::Company => "company",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "individual" => Some(Self::Individual),
            "company" => Some(Self::Company),
            _ => None,
        }
    }
}

/// `active` → `closing` (closure requested, waiting for its mailed confirmation) → `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Active,
    Closing,
    Closed,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Closing => "closing",
            AccountState::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "closing" => Some(Self::Closing),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// What a personal API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiTokenScope {
    Read,
    Write,
}

impl ApiTokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiTokenScope::Read => "read",
            ApiTokenScope::Write => "write",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }
}

/// The customer code shown to people and support (`gc-48213`). It is random, so that it says
/// nothing about how many customers a provider has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCode(String);

impl CustomerCode {
    /// Build the code from a random number; `digits` grows when collisions become likely.
    pub fn from_random(random: u64, digits: u32) -> Self {
        let digits = digits.clamp(5, 12);
        let low = 10u64.pow(digits - 1);
        let span = 9 * low;
        Self(format!("gc-{}", low + random % span))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postal address; every field optional at sign-up except the country, which the account
/// carries on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
}

/// Raw sign-up input, as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct SignupInput {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub country: String,
    pub language: Option<String>,
    pub kind: Option<String>,
    pub organisation: Option<String>,
    pub vat_number: Option<String>,
    pub phone: Option<String>,
    pub address: PostalAddress,
}

/// A sign-up that passed every rule.
#[derive(Debug)]
pub struct NewAccount {
    pub email: EmailAddress,
    pub password: Password,
    pub first_name: String,
    pub last_name: String,
    pub country: CountryCode,
    pub language: Language,
    pub currency: Currency,
    pub kind: AccountKind,
    pub organisation: Option<String>,
    pub vat_number: Option<String>,
    pub address: PostalAddress,
}

pub const NAME_MAX: usize = 100;
pub const ORGANISATION_MAX: usize = 200;
pub const ADDRESS_LINE_MAX: usize = 200;
pub const POSTAL_CODE_MAX: usize = 20;

/// VAT identification numbers. EU numbers (and Northern Ireland's `XI`) are checked in full,
/// check digits included ([`crate::vat_number`]); other countries' tax numbers keep a loose
/// syntax: a two-letter prefix then 2 to 13 letters or digits.
pub fn vat_number(input: &str) -> Result<String, FieldError> {
    let v: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    if !v.is_ascii() {
        return Err(FieldError {
            field: String::new(),
            code: "invalid_vat_number",
            message: "a VAT number has letters and digits only".into(),
        });
    }
    let prefix = v.get(..2).unwrap_or("");
    let eu = crate::country::CountryCode::parse(prefix).is_ok_and(|c| c.is_eu())
        || matches!(prefix, "EL" | "XI");
    if eu {
        return crate::vat_number::VatNumber::parse(&v)
            .map(|n| n.as_str().to_owned())
            .map_err(FieldError::from);
    }
    let ok = v.len() >= 4
        && v.len() <= 15
        && v[..2].chars().all(|c| c.is_ascii_uppercase())
        && v[2..].chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(v)
    } else {
        Err(FieldError {
            field: String::new(),
            code: "invalid_vat_number",
            message: "a VAT number starts with its country prefix, e.g. FR40303265045".into(),
        })
    }
}

fn address(fields: &mut Fields, a: &PostalAddress) -> PostalAddress {
    let mut one = |name: &str, v: &Option<String>, max: usize| {
        fields
            .check(name, validation::optional_text(v.as_deref(), max))
            .flatten()
    };
    PostalAddress {
        line1: one("address_line1", &a.line1, ADDRESS_LINE_MAX),
        line2: one("address_line2", &a.line2, ADDRESS_LINE_MAX),
        postal_code: one("postal_code", &a.postal_code, POSTAL_CODE_MAX),
        city: one("city", &a.city, NAME_MAX),
        region: one("region", &a.region, NAME_MAX),
    }
}

impl NewAccount {
    pub fn validate(input: &SignupInput) -> Result<Self, Vec<FieldError>> {
        let mut f = Fields::new();
        let email = f.check("email", EmailAddress::parse(&input.email));
        let first_name = f.check(
            "first_name",
            validation::text(&input.first_name, 1, NAME_MAX),
        );
        let last_name = f.check("last_name", validation::text(&input.last_name, 1, NAME_MAX));
        let personal = [
            input.email.as_str(),
            input.first_name.as_str(),
            input.last_name.as_str(),
        ];
        let password = f.check("password", Password::new(&input.password, &personal));
        let country = f.check("country", CountryCode::parse(&input.country));
        let language = match input.language.as_deref() {
            None | Some("") => country.map(|c| Language::default_for_country(c.as_str())),
            Some(l) => {
                let parsed = Language::parse(l);
                if parsed.is_none() {
                    f.push("language", "invalid_language", "language must be fr or en");
                }
                parsed
            }
        };
        let kind = match input.kind.as_deref() {
            None | Some("") => Some(AccountKind::Individual),
            Some(k) => {
                let parsed = AccountKind::parse(k);
                if parsed.is_none() {
                    f.push("kind", "invalid_kind", "kind must be individual or company");
                }
                parsed
            }
        };
        let organisation = f
            .check(
                "organisation",
                validation::optional_text(input.organisation.as_deref(), ORGANISATION_MAX),
            )
            .flatten();
        if kind == Some(AccountKind::Company) && organisation.is_none() {
            f.push(
                "organisation",
                "required",
                "a company account names its organisation",
            );
        }
        let vat = match input.vat_number.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => f.check("vat_number", vat_number(v)),
        };
        if vat.is_some() && kind != Some(AccountKind::Company) {
            f.push(
                "vat_number",
                "vat_number_for_companies",
                "only a company account has a VAT number",
            );
        }
        let address = address(&mut f, &input.address);
        if !f.is_empty() {
            return Err(f.into_vec());
        }
        // Every Option below is Some when no error was recorded.
        match (
            email, password, first_name, last_name, country, language, kind,
        ) {
            (
                Some(email),
                Some(password),
                Some(first_name),
                Some(last_name),
                Some(country),
                Some(language),
                Some(kind),
            ) => Ok(NewAccount {
                currency: Currency::default_for_country(country.as_str()),
                email,
                password,
                first_name,
                last_name,
                country,
                language,
                kind,
                organisation,
                vat_number: vat,
                address,
            }),
            _ => Err(vec![FieldError {
                field: String::new(),
                code: "invalid_input",
                message: "the sign-up is incomplete".into(),
            }]),
        }
    }
}

/// A profile change ("Mon profil"): every field optional; `Some("")` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organisation: Option<String>,
    pub vat_number: Option<String>,
    pub language: Option<String>,
    pub country: Option<String>,
    pub address: PostalAddressPatch,
}

#[derive(Debug, Clone, Default)]
pub struct PostalAddressPatch {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
}

/// The profile as stored, which a patch is applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub kind: AccountKind,
    pub first_name: String,
    pub last_name: String,
    pub organisation: Option<String>,
    pub vat_number: Option<String>,
    pub language: Language,
    pub country: CountryCode,
    pub address: PostalAddress,
}

impl ProfilePatch {
    /// Apply the patch to `current`, validating every field it touches.
    pub fn apply(&self, current: &Profile) -> Result<Profile, Vec<FieldError>> {
        let mut f = Fields::new();
        let mut p = current.clone();
        if let Some(v) = &self.first_name
            && let Some(v) = f.check("first_name", validation::text(v, 1, NAME_MAX))
        {
            p.first_name = v;
        }
        if let Some(v) = &self.last_name
            && let Some(v) = f.check("last_name", validation::text(v, 1, NAME_MAX))
        {
            p.last_name = v;
        }
        if let Some(v) = &self.organisation
            && let Some(v) = f.check(
                "organisation",
                validation::optional_text(Some(v), ORGANISATION_MAX),
            )
        {
            p.organisation = v;
        }
        if let Some(v) = &self.vat_number {
            p.vat_number = if v.trim().is_empty() {
                None
            } else {
                f.check("vat_number", vat_number(v)).or(p.vat_number)
            };
        }
        if let Some(v) = &self.language {
            match Language::parse(v) {
                Some(l) => p.language = l,
                None => f.push("language", "invalid_language", "language must be fr or en"),
            }
        }
        if let Some(v) = &self.country
            && let Some(c) = f.check("country", CountryCode::parse(v))
        {
            p.country = c;
        }
        let a = &self.address;
        let mut set = |name: &str, src: &Option<String>, dst: &mut Option<String>, max: usize| {
            if let Some(v) = src
                && let Some(v) = f.check(name, validation::optional_text(Some(v), max))
            {
                *dst = v;
            }
        };
        set(
            "address_line1",
            &a.line1,
            &mut p.address.line1,
            ADDRESS_LINE_MAX,
        );
        set(
            "address_line2",
            &a.line2,
            &mut p.address.line2,
            ADDRESS_LINE_MAX,
        );
        set(
            "postal_code",
            &a.postal_code,
            &mut p.address.postal_code,
            POSTAL_CODE_MAX,
        );
        set("city", &a.city, &mut p.address.city, NAME_MAX);
        set("region", &a.region, &mut p.address.region, NAME_MAX);
        if p.kind == AccountKind::Company && p.organisation.is_none() {
            f.push(
                "organisation",
                "required",
                "a company account names its organisation",
            );
        }
        if p.kind == AccountKind::Individual && p.vat_number.is_some() {
            f.push(
                "vat_number",
                "vat_number_for_companies",
                "only a company account has a VAT number",
            );
        }
        f.finish().map(|()| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> SignupInput {
        SignupInput {
            email: "zoe@example.fr".into(),
            password: "a long enough passphrase".into(),
            first_name: "Zoé".into(),
            last_name: "Martin".into(),
            country: "FR".into(),
            ..Default::default()
        }
    }

    #[test]
    fn vat_numbers_with_other_characters_are_refused_not_a_panic() {
        assert_eq!(vat_number("A€12").unwrap_err().code, "invalid_vat_number");
        assert_eq!(vat_number("é").unwrap_err().code, "invalid_vat_number");
    }

    #[test]
    fn signup_defaults_follow_country() {
        let a = NewAccount::validate(&good()).unwrap();
        assert_eq!(a.language, Language::Fr);
        assert_eq!(a.currency, Currency::Eur);
        assert_eq!(a.kind, AccountKind::Individual);
    }

    #[test]
    fn signup_reports_every_bad_field() {
        let mut i = good();
        i.email = "nope".into();
        i.password = "short".into();
        i.country = "XX".into();
        i.kind = Some("company".into());
        let errs = NewAccount::validate(&i).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert!(fields.contains(&("email", "invalid_email")));
        assert!(fields.contains(&("password", "password_too_short")));
        assert!(fields.contains(&("country", "invalid_country")));
        assert!(fields.contains(&("organisation", "required")));
    }

    #[test]
    fn customer_codes_have_the_asked_digits() {
        assert_eq!(CustomerCode::from_random(0, 5).as_str(), "gc-10000");
        assert_eq!(CustomerCode::from_random(u64::MAX, 5).as_str().len(), 8);
        assert_eq!(CustomerCode::from_random(7, 6).as_str(), "gc-100007");
    }

    #[test]
    fn profile_patch_validates_and_clears() {
        let a = NewAccount::validate(&good()).unwrap();
        let current = Profile {
            kind: a.kind,
            first_name: a.first_name,
            last_name: a.last_name,
            organisation: None,
            vat_number: None,
            language: a.language,
            country: a.country,
            address: PostalAddress {
                city: Some("Lyon".into()),
                ..Default::default()
            },
        };
        let patch = ProfilePatch {
            last_name: Some("Durand".into()),
            address: PostalAddressPatch {
                city: Some(String::new()),
                ..Default::default()
            },
            ..Default::default()
        };
        let p = patch.apply(&current).unwrap();
        assert_eq!(p.last_name, "Durand");
        assert_eq!(p.address.city, None);
        let bad = ProfilePatch {
            vat_number: Some("FR123".into()),
            first_name: Some(String::new()),
            ..Default::default()
        };
        let errs = bad.apply(&current).unwrap_err();
        assert_eq!(errs.len(), 2);
    }
}
