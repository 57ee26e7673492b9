//! The data check of the preparation step: does what the customer confirms match the case?
//!
//! A name must match **exactly** as written in the order, after only these input
//! normalisations: Unicode NFC (a `č` typed as `c` + combining caron is the same letter),
//! trimming, and collapsing runs of whitespace into one space. Everything else is a mismatch
//! that blocks the process and is explained to the customer ([`NameDifference::explain`]):
//! word order, missing or extra diacritics (č, š, ž, ć, đ and any other), upper/lower case,
//! spaces or hyphens, other letters. The explanation names the smallest set of differences that
//! accounts for the mismatch.
//!
//! Only a Slovenian ID card or passport is accepted ([`check_document`]); the number format is
//! two letters and seven digits, the first letter `I` for an ID card and `P` for a passport
//! (e.g. `IB1234567`, `PB1234567`), spaces ignored, letters uppercased.

use serde::{Deserialize, Serialize};
use time::Date;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::CasesError;

/// The customer's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Slovenian.
    #[default]
    Sl,
    /// English.
    En,
}

/// The kinds of identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    IdCard,
    Passport,
}

/// An identity document as the case or the customer states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub kind: DocumentKind,
    /// Issuing country, ISO 3166-1 alpha-2 (`SI`); `SVN` is accepted as well.
    pub country: String,
    pub number: String,
}

/// Checks a document is a Slovenian ID card or passport with a well-formed number; returns it
/// normalised (`SI`, number uppercased without spaces).
pub fn check_document(doc: &Document) -> Result<Document, CasesError> {
    let country = doc.country.trim().to_ascii_uppercase();
    if country != "SI" && country != "SVN" {
        return Err(CasesError::DocumentNotAccepted(
            "only Slovenian ID cards and passports are accepted; foreign citizens are identified in a shop",
        ));
    }
    let number: String = doc
        .number
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let prefix = match doc.kind {
        DocumentKind::IdCard => 'I',
        DocumentKind::Passport => 'P',
    };
    let b = number.as_bytes();
    let ok = b.len() == 9
        && b[0] == prefix as u8
        && b[1].is_ascii_uppercase()
        && b[2..].iter().all(u8::is_ascii_digit);
    if !ok {
        return Err(CasesError::DocumentNotAccepted(match doc.kind {
            DocumentKind::IdCard => {
                "an ID card number is the letter I, one more letter and seven digits"
            }
            DocumentKind::Passport => {
                "a passport number is the letter P, one more letter and seven digits"
            }
        }));
    }
    Ok(Document {
        kind: doc.kind,
        country: "SI".into(),
        number,
    })
}

/// One way in which two spellings of a name differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NameDifference {
    /// The same words in another order ("Novak Janez" for "Janez Novak").
    WordOrder,
    /// Letters with diacritics differ: `missing` are in the case but written without the mark,
    /// `extra` were added (lowercase).
    Diacritics {
        missing: Vec<char>,
        extra: Vec<char>,
    },
    /// Upper and lower case differ.
    LetterCase,
    /// Spaces or hyphens between parts differ ("Ana Marija" / "Anamarija" / "Ana-Marija").
    Spacing,
    /// Other letters: a different name or a typing error.
    Letters,
}

fn base_letter(c: char) -> char {
    match c {
        'đ' => 'd',
        'Đ' => 'D',
        _ => c.nfd().next().unwrap_or(c),
    }
}

fn has_mark(c: char) -> bool {
    matches!(c, 'đ' | 'Đ') || c.nfd().count() > 1
}

impl NameDifference {
    /// A sentence for the customer.
    pub fn explain(&self, lang: Lang) -> String {
        let pairs = |v: &[char]| {
            v.iter()
                .map(|c| format!("{c} → {}", base_letter(*c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (self, lang) {
            (NameDifference::WordOrder, Lang::En) => {
                "The parts of the name are in a different order (for example first name and surname swapped).".into()
            }
            (NameDifference::WordOrder, Lang::Sl) => {
                "Deli imena so v drugem vrstnem redu (na primer zamenjana ime in priimek).".into()
            }
            (NameDifference::Diacritics { missing, extra }, Lang::En) => {
                let mut s = String::from("Letters with diacritical marks differ.");
                if !missing.is_empty() {
                    s += &format!(" Written without the mark: {}.", pairs(missing));
                }
                if !extra.is_empty() {
                    s += &format!(" Written with a mark the order does not have: {}.", pairs(extra));
                }
                s
            }
            (NameDifference::Diacritics { missing, extra }, Lang::Sl) => {
                let mut s = String::from("Črke s strešicami ali drugimi znaki se razlikujejo.");
                if !missing.is_empty() {
                    s += &format!(" Zapisano brez strešice: {}.", pairs(missing));
                }
                if !extra.is_empty() {
                    s += &format!(" Zapisano s strešico, ki je naročilo nima: {}.", pairs(extra));
                }
                s
            }
            (NameDifference::LetterCase, Lang::En) => "Upper- and lower-case letters differ.".into(),
            (NameDifference::LetterCase, Lang::Sl) => "Velike in male črke se razlikujejo.".into(),
            (NameDifference::Spacing, Lang::En) => {
                "Spaces or hyphens between the parts of the name differ.".into()
            }
            (NameDifference::Spacing, Lang::Sl) => {
                "Presledki ali vezaji med deli imena se razlikujejo.".into()
            }
            (NameDifference::Letters, Lang::En) => {
                "The name is spelled with different letters.".into()
            }
            (NameDifference::Letters, Lang::Sl) => "Ime je zapisano z drugimi črkami.".into(),
        }
    }
}

/// NFC, trimmed, whitespace runs collapsed.
fn normalise(s: &str) -> String {
    s.nfc()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A search key: lower case, without diacritics, whitespace collapsed ("Šuštar" → "sustar").
/// For finding cases, never for deciding whether data matches.
pub fn fold(s: &str) -> String {
    key(&normalise(s), CASE | MARKS)
}

const CASE: u8 = 1;
const MARKS: u8 = 2;
const SPACING: u8 = 4;
const ORDER: u8 = 8;

fn key(s: &str, ignore: u8) -> String {
    let mut s: String = s.to_string();
    if ignore & CASE != 0 {
        s = s.to_lowercase();
    }
    if ignore & MARKS != 0 {
        s = s.chars().map(base_letter).collect();
        s = s.nfd().filter(|c| !is_combining_mark(*c)).collect();
    }
    let mut words: Vec<&str> = if ignore & SPACING != 0 {
        s.split(|c: char| c.is_whitespace() || c == '-')
            .filter(|w| !w.is_empty())
            .collect()
    } else {
        s.split(' ').collect()
    };
    if ignore & ORDER != 0 {
        words.sort_unstable();
    }
    words.join(if ignore & SPACING != 0 { "" } else { " " })
}

fn marked_letters(s: &str) -> Vec<char> {
    let mut v: Vec<char> = s
        .chars()
        .filter(|c| has_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    v.sort_unstable();
    v
}

/// Multiset difference `a − b`.
fn minus(a: &[char], b: &[char]) -> Vec<char> {
    let mut b = b.to_vec();
    let mut out = Vec::new();
    for c in a {
        if let Some(i) = b.iter().position(|x| x == c) {
            b.remove(i);
        } else {
            out.push(*c);
        }
    }
    out.dedup();
    out
}

/// How `given` differs from `expected`; empty when they match. See the module docs.
pub fn compare_names(expected: &str, given: &str) -> Vec<NameDifference> {
    let a = normalise(expected);
    let b = normalise(given);
    if a == b {
        return Vec::new();
    }
    // The smallest set of ignored aspects under which both spellings agree.
    let mut sets: Vec<u8> = (1u8..16).collect();
    sets.sort_by_key(|s| (s.count_ones(), *s));
    let Some(set) = sets.into_iter().find(|s| key(&a, *s) == key(&b, *s)) else {
        return vec![NameDifference::Letters];
    };
    let mut out = Vec::new();
    if set & ORDER != 0 {
        out.push(NameDifference::WordOrder);
    }
    if set & MARKS != 0 {
        let (ma, mb) = (marked_letters(&a), marked_letters(&b));
        let missing = minus(&ma, &mb);
        let extra = minus(&mb, &ma);
        out.push(NameDifference::Diacritics { missing, extra });
    }
    if set & CASE != 0 {
        out.push(NameDifference::LetterCase);
    }
    if set & SPACING != 0 {
        out.push(NameDifference::Spacing);
    }
    out
}

/// The data the customer confirms in the preparation step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmedData {
    pub name: String,
    pub date_of_birth: Date,
    pub document: Document,
}

/// The outcome of comparing confirmed data with the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataCheck {
    /// Empty when the names match.
    pub name: Vec<NameDifference>,
    pub date_of_birth_matches: bool,
    pub document_kind_matches: bool,
    pub document_number_matches: bool,
}

impl DataCheck {
    /// Everything matches.
    pub fn is_match(&self) -> bool {
        self.name.is_empty()
            && self.date_of_birth_matches
            && self.document_kind_matches
            && self.document_number_matches
    }

    /// One sentence per difference, for the customer.
    pub fn explain(&self, lang: Lang) -> Vec<String> {
        let mut out: Vec<String> = self.name.iter().map(|d| d.explain(lang)).collect();
        let en = lang == Lang::En;
        if !self.date_of_birth_matches {
            out.push(if en {
                "The date of birth differs from the one in the order.".into()
            } else {
                "Datum rojstva se razlikuje od tistega v naročilu.".into()
            });
        }
        if !self.document_kind_matches {
            out.push(if en {
                "The type of document differs from the one in the order.".into()
            } else {
                "Vrsta dokumenta se razlikuje od tiste v naročilu.".into()
            });
        }
        if !self.document_number_matches {
            out.push(if en {
                "The document number differs from the one in the order.".into()
            } else {
                "Številka dokumenta se razlikuje od tiste v naročilu.".into()
            });
        }
        out
    }
}

/// Compares the confirmed data with the case's; the confirmed document must itself be
/// acceptable ([`check_document`]), otherwise this is an error rather than a mismatch.
pub fn check_data(
    case_name: &str,
    case_date_of_birth: Date,
    case_document: &Document,
    confirmed: &ConfirmedData,
) -> Result<DataCheck, CasesError> {
    let given = check_document(&confirmed.document)?;
    let expected = check_document(case_document)?;
    Ok(DataCheck {
        name: compare_names(case_name, &confirmed.name),
        date_of_birth_matches: case_date_of_birth == confirmed.date_of_birth,
        document_kind_matches: expected.kind == given.kind,
        document_number_matches: expected.number == given.number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use NameDifference::*;
    use time::macros::date;

    #[test]
    fn equal_names_and_harmless_input_noise() {
        assert!(compare_names("Janez Novak", "Janez Novak").is_empty());
        assert!(compare_names("Janez Novak", "  Janez   Novak ").is_empty());
        // Precomposed č versus c + combining caron.
        assert!(compare_names("Čeh", "C\u{30c}eh").is_empty());
    }

    #[test]
    fn word_order() {
        assert_eq!(compare_names("Janez Novak", "Novak Janez"), vec![WordOrder]);
    }

    #[test]
    fn diacritics() {
        assert_eq!(
            compare_names("Čeh", "Ceh"),
            vec![Diacritics {
                missing: vec!['č'],
                extra: vec![]
            }]
        );
        assert_eq!(
            compare_names("Žiga Šuštar", "Ziga Sustar"),
            vec![Diacritics {
                missing: vec!['š', 'ž'],
                extra: vec![]
            }]
        );
        assert_eq!(
            compare_names("Đorđe Ćirić", "Dorde Ciric"),
            vec![Diacritics {
                missing: vec!['ć', 'đ'],
                extra: vec![]
            }]
        );
        assert_eq!(
            compare_names("Ana Kos", "Ana Koš"),
            vec![Diacritics {
                missing: vec![],
                extra: vec!['š']
            }]
        );
        // Ć instead of Č: both marked, bases agree.
        assert_eq!(
            compare_names("Kovač", "Kovać"),
            vec![Diacritics {
                missing: vec!['č'],
                extra: vec!['ć']
            }]
        );
    }

    #[test]
    fn case_spacing_and_combinations() {
        assert_eq!(
            compare_names("Janez Novak", "janez novak"),
            vec![LetterCase]
        );
        assert_eq!(
            compare_names("Ana Marija Kos", "Ana-Marija Kos"),
            vec![Spacing]
        );
        assert_eq!(
            compare_names("Ana Marija Kos", "Anamarija Kos"),
            vec![LetterCase, Spacing]
        );
        assert_eq!(
            compare_names("Ana Novak-Kos", "Ana Novak Kos"),
            vec![Spacing]
        );
        assert_eq!(
            compare_names("Janez Čeh", "ceh janez"),
            vec![
                WordOrder,
                Diacritics {
                    missing: vec!['č'],
                    extra: vec![]
                },
                LetterCase
            ]
        );
        assert_eq!(compare_names("Janez Novak", "Janez Novakk"), vec![Letters]);
        assert_eq!(compare_names("Janez Novak", "Marko Novak"), vec![Letters]);
    }

    #[test]
    fn explanations_name_the_letters() {
        let d = compare_names("Čeh", "Ceh");
        assert!(
            d[0].explain(Lang::En).contains("č → c"),
            "{}",
            d[0].explain(Lang::En)
        );
        assert!(d[0].explain(Lang::Sl).contains("č → c"));
        assert!(WordOrder.explain(Lang::En).contains("order"));
    }

    fn id(n: &str) -> Document {
        Document {
            kind: DocumentKind::IdCard,
            country: "SI".into(),
            number: n.into(),
        }
    }

    #[test]
    fn documents() {
        assert_eq!(
            check_document(&id("ib 123 4567")).unwrap().number,
            "IB1234567"
        );
        assert!(
            check_document(&id("PB1234567")).is_err(),
            "passport prefix on an ID card"
        );
        assert!(check_document(&id("IB123456")).is_err());
        let pass = Document {
            kind: DocumentKind::Passport,
            country: "svn".into(),
            number: "PA0000001".into(),
        };
        assert_eq!(check_document(&pass).unwrap().country, "SI");
        let foreign = Document {
            country: "HR".into(),
            ..pass.clone()
        };
        assert!(matches!(
            check_document(&foreign),
            Err(CasesError::DocumentNotAccepted(_))
        ));
    }

    #[test]
    fn data_check() {
        let dob = date!(1990 - 05 - 17);
        let confirmed = ConfirmedData {
            name: "Janez Novak".into(),
            date_of_birth: dob,
            document: id("IB1234567"),
        };
        let ok = check_data("Janez Novak", dob, &id("ib1234567"), &confirmed).unwrap();
        assert!(ok.is_match());
        assert!(ok.explain(Lang::En).is_empty());
        let bad = check_data(
            "Novak Janez",
            date!(1990 - 05 - 18),
            &id("IB7654321"),
            &confirmed,
        )
        .unwrap();
        assert!(!bad.is_match());
        assert_eq!(bad.explain(Lang::Sl).len(), 3);
    }
}
