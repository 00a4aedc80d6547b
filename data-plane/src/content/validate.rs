//! Whether a piece of content may be published: every problem at once, each with the path of
//! the field it is about, so an admin fixes a draft in one pass (the 422 lists them all).

use std::collections::BTreeSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::model::{CallToAction, ContentBody, ContentKind, Question, Step};
use super::targeting::UrlPattern;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 5_000;
pub const MAX_SELECTOR_LEN: usize = 500;
pub const MAX_URL_PATTERNS: usize = 20;
pub const MAX_TRAIT_RULES: usize = 20;
pub const MAX_CTA_URL_LEN: usize = 2_000;

/// One thing wrong with a piece of content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Where, as a JSON path from the content's root: `steps[2].target`.
    pub path: String,
    pub message: String,
}

/// Every problem of `body`; empty when it may be published.
pub fn problems(body: &ContentBody) -> Vec<Problem> {
    let mut found = Problems::default();
    let name_chars = body.name.trim().chars().count();
    if name_chars == 0 || body.name.chars().count() > MAX_NAME_CHARS {
        found.add("name", format!("must be 1 to {MAX_NAME_CHARS} characters"));
    }
    targeting(body, &mut found);
    steps(body, &mut found);
    if body.banner_position.is_some() && body.kind != ContentKind::Banner {
        found.add("banner_position", "applies to banners only");
    }
    found.0
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
}

fn targeting(body: &ContentBody, found: &mut Problems) {
    let urls = &body.targeting.urls;
    if urls.is_empty() || urls.len() > MAX_URL_PATTERNS {
        found.add(
            "targeting.urls",
            format!("needs 1 to {MAX_URL_PATTERNS} URL patterns (`*` for every page)"),
        );
    }
    for (i, raw) in urls.iter().enumerate() {
        if let Err(why) = UrlPattern::parse(raw) {
            found.add(format!("targeting.urls[{i}]"), why);
        }
    }
    let rules = &body.targeting.traits;
    if rules.len() > MAX_TRAIT_RULES {
        found.add(
            "targeting.traits",
            format!("at most {MAX_TRAIT_RULES} rules"),
        );
    }
    for (i, rule) in rules.iter().enumerate() {
        let name = rule.name();
        if name.is_empty() || name.len() > 100 {
            found.add(
                format!("targeting.traits[{i}].trait"),
                "must be 1 to 100 characters",
            );
        }
    }
}

fn steps(body: &ContentBody, found: &mut Problems) {
    let (least, most) = body.kind.steps();
    let count = body.steps.len();
    if count < least || count > most {
        let wanted = if least == most {
            format!("exactly {least} step")
        } else {
            format!("{least} to {most} steps")
        };
        found.add(
            "steps",
            format!("a {} takes {wanted}, not {count}", body.kind.as_str()),
        );
    }
    let mut ids = BTreeSet::new();
    for (i, step) in body.steps.iter().enumerate() {
        let at = |field: &str| format!("steps[{i}].{field}");
        match &step.id {
            None => found.add(at("id"), "every step needs an id before publishing"),
            Some(id) if !ids.insert(id.clone()) => {
                found.add(at("id"), format!("step id {id} is used twice"));
            }
            Some(_) => {}
        }
        text(&step.title, 1, MAX_TITLE_CHARS, &at("title"), found);
        text(&step.body, 0, MAX_BODY_CHARS, &at("body"), found);
        match &step.target {
            None if body.kind.needs_target() => {
                found.add(
                    at("target"),
                    format!(
                        "a {} step points at an element: give its CSS selector",
                        body.kind.as_str()
                    ),
                );
            }
            None => {}
            Some(selector) => {
                if let Err(why) = check_selector(selector) {
                    found.add(at("target"), why);
                }
            }
        }
        if let Some(cta) = &step.cta {
            call_to_action(cta, &at("cta"), found);
        }
        question(body.kind, step, &at("question"), found);
    }
}

fn text(value: &str, least: usize, most: usize, path: &str, found: &mut Problems) {
    let chars = value.chars().count();
    if value.trim().chars().count() < least || chars > most {
        found.add(path, format!("must be {least} to {most} characters"));
    }
}

fn call_to_action(cta: &CallToAction, path: &str, found: &mut Problems) {
    text(&cta.label, 1, 60, &format!("{path}.label"), found);
    if let Some(url) = &cta.url
        && let Err(why) = check_link(url)
    {
        found.add(format!("{path}.url"), why);
    }
}

fn question(kind: ContentKind, step: &Step, path: &str, found: &mut Problems) {
    match (&step.question, kind) {
        (None, ContentKind::Survey) => found.add(path, "a survey step asks a question"),
        (Some(_), k) if k != ContentKind::Survey => {
            found.add(path, "only survey steps ask questions")
        }
        (Some(Question::Rating { scale }), _) if !(2..=10).contains(scale) => {
            found.add(format!("{path}.scale"), "must be 2 to 10");
        }
        (Some(Question::Choice { options }), _) => {
            if !(2..=10).contains(&options.len()) {
                found.add(format!("{path}.options"), "needs 2 to 10 options");
            }
            let mut seen = BTreeSet::new();
            for (i, option) in options.iter().enumerate() {
                let chars = option.trim().chars().count();
                if chars == 0 || chars > 100 {
                    found.add(
                        format!("{path}.options[{i}]"),
                        "must be 1 to 100 characters",
                    );
                } else if !seen.insert(option.trim()) {
                    found.add(format!("{path}.options[{i}]"), "is listed twice");
                }
            }
        }
        _ => {}
    }
}

/// A CSS selector the SDK can hand to `querySelector` without surprises: not empty, not too
/// long, no control characters, quotes closed and brackets balanced. (The browser is the
/// final judge; this catches the drafts that could never match.)
pub fn check_selector(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() || selector.len() > MAX_SELECTOR_LEN {
        return Err(format!("a selector is 1 to {MAX_SELECTOR_LEN} bytes"));
    }
    if selector.chars().any(char::is_control) {
        return Err("a selector has no control characters".to_owned());
    }
    let mut open: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in selector.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (_, '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '(') => open.push(c),
            (None, ']') if open.pop() != Some('[') => return Err("an unmatched ']'".to_owned()),
            (None, ')') if open.pop() != Some('(') => return Err("an unmatched ')'".to_owned()),
            (None, '{' | '}' | ';') => {
                return Err(format!("'{c}' belongs in a style sheet, not a selector"));
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".to_owned());
    }
    if let Some(c) = open.pop() {
        return Err(format!("a '{c}' is not closed"));
    }
    if selector.trim_end().ends_with([',', '>', '+', '~']) {
        return Err("a selector does not end with a combinator".to_owned());
    }
    Ok(())
}

/// A link a button may follow: absolute http(s), or a path on the tenant's own site. Never
/// `javascript:`, `data:` or a protocol-relative `//host`, which would run or leave unseen.
pub fn check_link(link: &str) -> Result<(), String> {
    if link.is_empty() || link.len() > MAX_CTA_URL_LEN {
        return Err(format!("a link is 1 to {MAX_CTA_URL_LEN} bytes"));
    }
    if link.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("a link has no spaces or control characters".to_owned());
    }
    // Browsers read `\` as `/` in web URLs: `/\evil.com` would be `//evil.com`.
    if link.contains('\\') {
        return Err("a link has no backslashes".to_owned());
    }
    if link.starts_with('/') && !link.starts_with("//") {
        return Ok(());
    }
    match url::Url::parse(link) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => Ok(()),
        Ok(url) => Err(format!(
            "links are http(s) or a path on your site, not {}:",
            url.scheme()
        )),
        Err(_) => Err("not a URL: use https://… or a path such as /billing".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn body(value: serde_json::Value) -> ContentBody {
        let mut body: ContentBody = serde_json::from_value(value).unwrap();
        body.assign_step_ids();
        body
    }

    fn paths(body: &ContentBody) -> Vec<String> {
        problems(body).into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn one_of_each_kind_can_be_valid() {
        for kind in ContentKind::ALL {
            let question = (kind == ContentKind::Survey)
                .then(|| json!({"type": "choice", "options": ["Yes", "No"]}));
            let mut step = json!({"title": "Hello", "target": "#main > button.primary"});
            if let Some(q) = question {
                step["question"] = q;
            }
            let valid = body(json!({
                "kind": kind, "name": "Example", "targeting": {"urls": ["/app/*"]}, "steps": [step]
            }));
            assert_eq!(problems(&valid), vec![], "{kind:?}");
        }
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let bad = body(json!({
            "kind": "tooltip",
            "name": "",
            "targeting": {"urls": ["https://a.io/x", "/ok"]},
            "banner_position": "top",
            "steps": [
                {"id": "s_a", "title": "", "cta": {"label": "Go", "url": "javascript:alert(1)"}},
                {"id": "s_a", "title": "two", "target": "div[", "question": {"type": "text"}}
            ]
        }));
        assert_eq!(
            paths(&bad),
            [
                "name",
                "targeting.urls[0]",
                "steps",
                "steps[0].title",
                "steps[0].target",
                "steps[0].cta.url",
                "steps[1].id",
                "steps[1].target",
                "steps[1].question",
                "banner_position",
            ]
        );
    }

    #[test]
    fn selectors_and_links_are_checked() {
        for good in [
            "#id",
            "div.a > span:nth-child(2)",
            "[data-x=\"a]b\"]",
            "a[href^='/x']",
        ] {
            assert_eq!(check_selector(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "div[",
            "a)",
            "a { color: red }",
            "'open",
            "div >",
            "a\u{0}",
        ] {
            assert!(check_selector(bad).is_err(), "{bad:?} was accepted");
        }
        for good in [
            "/billing",
            "https://docs.example.com/x?y=1",
            "http://localhost:3000/",
        ] {
            assert_eq!(check_link(good), Ok(()), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "//evil.com",
            "/\\evil.com",
            "billing",
            "https:// x",
        ] {
            assert!(check_link(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn surveys_ask_and_only_surveys_ask() {
        let no_question = body(
            json!({"kind": "survey", "name": "s", "targeting": {"urls": ["*"]}, "steps": [{"title": "q"}]}),
        );
        assert_eq!(paths(&no_question), ["steps[0].question"]);
        let bad_choice = body(
            json!({"kind": "survey", "name": "s", "targeting": {"urls": ["*"]},
            "steps": [{"title": "q", "question": {"type": "choice", "options": ["a", "a", ""]}}]}),
        );
        assert_eq!(
            paths(&bad_choice),
            [
                "steps[0].question.options[1]",
                "steps[0].question.options[2]"
            ]
        );
        let bad_scale = body(
            json!({"kind": "survey", "name": "s", "targeting": {"urls": ["*"]},
            "steps": [{"title": "q", "question": {"type": "rating", "scale": 11}}]}),
        );
        assert_eq!(paths(&bad_scale), ["steps[0].question.scale"]);
    }

    proptest! {
        /// Validation never panics, whatever the strings.
        #[test]
        fn validation_never_panics(name in ".{0,300}", selector in ".{0,600}", link in ".{0,300}", pattern in ".{0,600}") {
            let content = ContentBody {
                kind: ContentKind::Tour,
                name,
                targeting: super::super::model::Targeting { urls: vec![pattern], traits: vec![] },
                steps: vec![Step {
                    id: None,
                    title: "t".into(),
                    body: String::new(),
                    target: Some(selector),
                    placement: Default::default(),
                    cta: Some(CallToAction { label: "go".into(), url: Some(link) }),
                    question: None,
                }],
                repeat: false,
                banner_position: None,
            };
            let _ = problems(&content);
        }
    }
}
