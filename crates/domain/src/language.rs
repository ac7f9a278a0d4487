//! The languages Guichet speaks to customers (mails, panel): French and English.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Fr,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Language::En),
            "fr" => Some(Language::Fr),
            _ => None,
        }
    }

    /// The language a new account gets when it names none: French for the countries where
    /// French is the usual language of business, English elsewhere.
    pub fn default_for_country(country: &str) -> Self {
        match country {
            "FR" | "BE" | "LU" | "MC" | "CH" | "SN" | "CI" | "MA" | "TN" | "DZ" | "RE" | "GP"
            | "MQ" | "GF" | "YT" | "NC" | "PF" | "PM" | "WF" | "BL" | "MF" => Language::Fr,
            _ => Language::En,
        }
    }
}
