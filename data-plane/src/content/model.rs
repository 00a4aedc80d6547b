//! What a piece of content is: its kind, its steps, where it shows and to whom.
//!
//! [`ContentBody`] is what an admin writes (a draft) and what a published version freezes;
//! it deserialises from anything shaped right, and [`super::validate`] decides whether it may
//! be published. Ids are validated types, so a stored or routed id is always well-formed.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest id (content or step) in characters.
pub const MAX_ID_LEN: usize = 64;

/// An id: 1 to 64 of `[a-z0-9_-]`, so it can sit inside a key (`CONTENT#{id}`) and a URL.
fn check_id(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() || raw.len() > MAX_ID_LEN {
        return Err("must be 1 to 64 characters long");
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err("may contain only lowercase letters a-z, digits, '_' and '-'");
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String, pattern = "^[a-z0-9_-]{1,64}$")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, &'static str> {
                check_id(raw).map(|()| $name(raw.to_owned()))
            }

            /// A new random id: `{prefix}` and 20 hex digits of a random UUID.
            pub fn generate() -> Self {
                let random = uuid::Uuid::new_v4().simple().to_string();
                $name(format!(concat!($prefix, "{}"), &random[..20]))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = &'static str;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                check_id(&value).map(|()| $name(value))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// A content item's id, assigned when it is created and never changed.
    ContentId,
    "c_"
);
id_type!(
    /// A step's id, stable across versions: analytics count per step id, so editing a step's
    /// text keeps its history, and a new step gets a new id.
    StepId,
    "s_"
);

/// The eight kinds the SDK renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    /// Several steps, each a tooltip on its target (or centred when it has none).
    Tour,
    /// A tooltip over a dimmed page with a cut-out around the target; one or more steps.
    Spotlight,
    /// One tooltip on one target.
    Tooltip,
    /// One centred dialog.
    Modal,
    /// One bar across the top or the bottom of the page.
    Banner,
    /// A pulsing dot on a target that opens into a tooltip.
    Hotspot,
    /// A list of tasks the user ticks off.
    Checklist,
    /// Questions, one per step.
    Survey,
}

impl ContentKind {
    pub const ALL: [ContentKind; 8] = [
        ContentKind::Tour,
        ContentKind::Spotlight,
        ContentKind::Tooltip,
        ContentKind::Modal,
        ContentKind::Banner,
        ContentKind::Hotspot,
        ContentKind::Checklist,
        ContentKind::Survey,
    ];

    /// The kind's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Tour => "tour",
            ContentKind::Spotlight => "spotlight",
            ContentKind::Tooltip => "tooltip",
            ContentKind::Modal => "modal",
            ContentKind::Banner => "banner",
            ContentKind::Hotspot => "hotspot",
            ContentKind::Checklist => "checklist",
            ContentKind::Survey => "survey",
        }
    }

    /// How many steps the kind takes, at least and at most.
    pub fn steps(self) -> (usize, usize) {
        match self {
            ContentKind::Tour | ContentKind::Spotlight => (1, 50),
            ContentKind::Tooltip | ContentKind::Modal | ContentKind::Banner => (1, 1),
            ContentKind::Hotspot => (1, 1),
            ContentKind::Checklist => (1, 30),
            ContentKind::Survey => (1, 20),
        }
    }

    /// Whether every step must name the element it points at.
    pub fn needs_target(self) -> bool {
        matches!(
            self,
            ContentKind::Spotlight | ContentKind::Tooltip | ContentKind::Hotspot
        )
    }
}

/// Where a banner sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BannerPosition {
    #[default]
    Top,
    Bottom,
}

/// Which side of its target a tooltip prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    #[default]
    Auto,
    Top,
    Bottom,
    Left,
    Right,
}

/// A button that takes the user somewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallToAction {
    pub label: String,
    /// `https://…`, `http://…` or a path on the tenant's site (`/billing`); never a script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What a survey step asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Question {
    /// A score from 1 to `scale` (5 by default; 2 to 10 to be published — a draft may hold
    /// any, which is why the schema states only the type's range).
    Rating {
        #[serde(default = "default_scale", deserialize_with = "whole_number")]
        #[schema(minimum = 0, maximum = 255)]
        scale: u8,
    },
    /// One of the options (2 to 10 to be published).
    Choice { options: Vec<String> },
    /// Free text, up to 2,000 characters. (A struct variant: serde ignores
    /// `deny_unknown_fields` on the unit variants of an internally tagged enum.)
    Text {},
}

fn default_scale() -> u8 {
    5
}

/// A whole number written as a JSON number with no fraction (`6` or `6.0`): JSON Schema's
/// `integer` admits `6.0`, and so does this API.
pub(crate) fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let n = f64::deserialize(deserializer)?;
    let whole = (n.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&n)).then_some(n as u64);
    whole.and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
        serde::de::Error::custom(format!("expected a whole number in range, got {n}"))
    })
}

/// One step of a piece of content, as an admin writes it: `id` may be left out of a new step,
/// and the server assigns one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<StepId>,
    /// Plain text: the SDK renders it as text, never as HTML.
    pub title: String,
    /// Plain text, as `title`.
    #[serde(default)]
    pub body: String,
    /// A CSS selector for the element the step points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default)]
    pub placement: Placement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cta: Option<CallToAction>,
    /// Survey steps only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<Question>,
}

/// A rule on the signed-in user's traits (the claims of their verified token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum TraitRule {
    /// The claim equals the value.
    Eq {
        #[serde(rename = "trait")]
        name: String,
        value: serde_json::Value,
    },
    /// The claim is missing or differs from the value.
    Neq {
        #[serde(rename = "trait")]
        name: String,
        value: serde_json::Value,
    },
    /// The claim equals one of the values.
    In {
        #[serde(rename = "trait")]
        name: String,
        values: Vec<serde_json::Value>,
    },
    /// The claim is present.
    Exists {
        #[serde(rename = "trait")]
        name: String,
    },
}

impl TraitRule {
    pub fn name(&self) -> &str {
        match self {
            TraitRule::Eq { name, .. }
            | TraitRule::Neq { name, .. }
            | TraitRule::In { name, .. }
            | TraitRule::Exists { name } => name,
        }
    }
}

/// Where and to whom content shows: on a page matching any of `urls`, to a user matching every
/// rule of `traits` (content with trait rules is never shown to an anonymous user).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    /// URL patterns (`/billing`, `/docs/*`, `app.example.com/settings/*`, `*`): see
    /// [`super::targeting::UrlPattern`].
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traits: Vec<TraitRule>,
}

/// A piece of content as an admin writes it; a published version freezes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentBody {
    pub kind: ContentKind,
    pub name: String,
    pub targeting: Targeting,
    pub steps: Vec<Step>,
    /// Offered again after the user completed or dismissed it.
    #[serde(default)]
    pub repeat: bool,
    /// Banners only (top when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_position: Option<BannerPosition>,
}

impl ContentBody {
    /// Gives every step without an id a new one, so that ids are stable from the first save.
    pub fn assign_step_ids(&mut self) {
        for step in &mut self.steps {
            if step.id.is_none() {
                step.id = Some(StepId::generate());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_as_they_serialise() {
        for kind in ContentKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn ids_take_only_the_documented_characters() {
        assert!(ContentId::parse("c_welcome-tour").is_ok());
        for bad in ["", "Tour", "a b", "a#b", "é", &"x".repeat(65)] {
            assert!(ContentId::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let generated = StepId::generate();
        assert!(StepId::parse(generated.as_str()).is_ok());
        assert!(generated.as_str().starts_with("s_"));
        assert_ne!(StepId::generate(), generated);
    }

    #[test]
    fn a_body_reads_from_json_and_refuses_unknown_fields() {
        let body: ContentBody = serde_json::from_value(serde_json::json!({
            "kind": "survey",
            "name": "How are we doing?",
            "targeting": {"urls": ["/app/*"], "traits": [{"op": "eq", "trait": "plan", "value": "pro"}]},
            "steps": [{"title": "Rate us", "question": {"type": "rating"}}]
        }))
        .unwrap();
        assert_eq!(body.kind, ContentKind::Survey);
        assert_eq!(body.steps[0].question, Some(Question::Rating { scale: 5 }));
        assert_eq!(body.targeting.traits[0].name(), "plan");

        let unknown = serde_json::from_value::<ContentBody>(serde_json::json!({
            "kind": "modal", "name": "x", "targeting": {"urls": ["*"]},
            "steps": [{"title": "t", "colour": "red"}]
        }));
        assert!(unknown.is_err());
    }

    #[test]
    fn steps_without_ids_get_one_and_keep_it() {
        let mut body: ContentBody = serde_json::from_value(serde_json::json!({
            "kind": "tour", "name": "Welcome", "targeting": {"urls": ["*"]},
            "steps": [{"title": "one"}, {"id": "s_kept", "title": "two"}]
        }))
        .unwrap();
        body.assign_step_ids();
        let first = body.steps[0].id.clone().unwrap();
        assert_eq!(body.steps[1].id.as_ref().unwrap().as_str(), "s_kept");
        body.assign_step_ids();
        assert_eq!(body.steps[0].id.as_ref(), Some(&first));
    }
}
