//! The `identification` section of the configuration: attempts, link validity, and the
//! prepared questions about the customer's intent.

use serde::{Deserialize, Serialize};

use crate::CasesError;
use crate::matching::Lang;

/// A prepared question the agent asks, in Slovenian and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Stable id, recorded with the answer.
    pub id: String,
    pub sl: String,
    pub en: String,
}

impl Question {
    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::Sl => &self.sl,
            Lang::En => &self.en,
        }
    }
}

/// The default prepared questions.
pub fn default_questions() -> Vec<Question> {
    let q = |id: &str, sl: &str, en: &str| Question {
        id: id.into(),
        sl: sl.into(),
        en: en.into(),
    };
    vec![
        q(
            "wants_contract",
            "Ali želite skleniti to pogodbo za mobilne storitve?",
            "Do you want to conclude this mobile services contract?",
        ),
        q(
            "own_decision",
            "Vas je kdo prosil ali vam naročil, da opravite to identifikacijo?",
            "Has anyone asked or told you to do this identification?",
        ),
        q(
            "certificate_understood",
            "Ali razumete, da bo na podlagi te identifikacije na vaše ime izdano kvalificirano potrdilo za elektronski podpis?",
            "Do you understand that a qualified certificate for electronic signing will be issued in your name on the strength of this identification?",
        ),
    ]
}

/// The `identification` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowConfig {
    /// Calls allowed per case (the first plus repeats from the queue).
    pub max_attempts: u32,
    /// Link validity in counted hours ([`crate::validity`]).
    pub link_valid_hours: u32,
    /// The prepared questions, in the order they are asked.
    pub questions: Vec<Question>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_attempts: 3,
            link_valid_hours: 24,
            questions: default_questions(),
        }
    }
}

impl FlowConfig {
    pub(crate) fn validate(&self) -> Result<(), CasesError> {
        if !(1..=20).contains(&self.max_attempts) {
            return Err(CasesError::Config {
                key: "identification.max_attempts",
                reason: "must be between 1 and 20".into(),
            });
        }
        if !(1..=24 * 30).contains(&self.link_valid_hours) {
            return Err(CasesError::Config {
                key: "identification.link_valid_hours",
                reason: "must be between 1 and 720".into(),
            });
        }
        if self.questions.is_empty() {
            return Err(CasesError::Config {
                key: "identification.questions",
                reason: "must hold at least one question".into(),
            });
        }
        let mut ids: Vec<&str> = self.questions.iter().map(|q| q.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) || ids.iter().any(|i| i.trim().is_empty()) {
            return Err(CasesError::Config {
                key: "identification.questions",
                reason: "ids must be unique and not empty".into(),
            });
        }
        if self
            .questions
            .iter()
            .any(|q| q.sl.trim().is_empty() || q.en.trim().is_empty())
        {
            return Err(CasesError::Config {
                key: "identification.questions",
                reason: "every question needs sl and en text".into(),
            });
        }
        Ok(())
    }
}
