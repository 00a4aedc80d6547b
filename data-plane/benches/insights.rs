//! Summaries and chat, measured: the prompt's size at 10, 1,000 and 100,000 events per tenant
//! (the narrator's estimate, and the real model's own count when one is served), the
//! narrator's latency on the largest sheet, and, with the real small model, answers per second
//! and how the answers to 50 questions were grounded (first try, after regeneration, or by the
//! narrator's fallback).
//!
//! Run: `cargo bench -p data-plane --bench insights`. For the model rows, start the local model
//! first and pass its URL: `eval "$(scripts/local-model.sh start)"` then
//! `SPOTLIGHT_OLLAMA_URL=$SPOTLIGHT_OLLAMA_URL cargo bench -p data-plane --bench insights`.
//!
//! Everything runs on the embedded backend through the real HTTP API: content is published,
//! events are sent as SDK batches and folded by the outbox processor, metrics are uploaded,
//! and questions are asked at `POST /v1/admin/chat`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use data_plane::insights::llm::{ChatRequest, Llm, Message, Narrator, Role, estimate_tokens};
use data_plane::insights::ollama::OllamaLlm;
use data_plane::insights::sheet;
use data_plane::insights::summary;
use data_plane::series::period::Period;
use data_plane::state::TenantTables;
use data_plane::{AppState, DataPlaneSettings};
use provisioner::{NewTenant, Provisioner};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use tenancy::api_key::{self, KeyHasher};
use tenancy::settings::Bounded;
use tenancy::{ApiKeyKind, OwnerEmail, TenantId, TenantName, Tier};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PEPPER: &str = "insights-bench-pepper-0123456789abcdef0123";
/// Events per tenant of the prompt-size rows.
const SIZES: [usize; 3] = [10, 1_000, 100_000];
/// Event types the generated traffic uses.
const KINDS: [&str; 7] = [
    "impression",
    "click",
    "dismiss",
    "tour_start",
    "tour_step",
    "tour_complete",
    "target_missing",
];
/// Events per SDK batch.
const BATCH: usize = 500;
/// Narrator runs timed.
const NARRATIONS: usize = 1_000;

struct Bench {
    url: String,
    http: reqwest::Client,
    state: AppState,
    provisioner: Provisioner,
    hasher: KeyHasher,
}

impl Bench {
    async fn tenant(&self, id: &str) -> (TenantId, String) {
        let id = TenantId::parse(id).unwrap();
        self.provisioner
            .request(NewTenant {
                id: id.clone(),
                name: TenantName::parse("Bench Tenant").unwrap(),
                owner_email: OwnerEmail::parse("ops@example.com").unwrap(),
                tier: Tier::Standard,
                allowed_origins: vec![],
                request: None,
            })
            .await
            .unwrap();
        self.provisioner.provision(&id).await.unwrap();
        let issued = api_key::issue(
            &self.hasher,
            &id,
            ApiKeyKind::Secret,
            OffsetDateTime::now_utc(),
            None,
        );
        self.state
            .backend
            .registry
            .put_api_key(&issued.record)
            .await
            .unwrap();
        (id, issued.key.expose().to_owned())
    }

    fn request(&self, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .header("x-api-key", key)
    }

    /// Publishes a three-step tour named `name`; returns its id and step ids.
    async fn tour(&self, key: &str, name: &str) -> (String, Vec<String>) {
        let body = json!({
            "kind": "tour",
            "name": name,
            "targeting": {"urls": ["/app*"]},
            "steps": [
                {"title": "One", "body": "The menu", "target": "#menu"},
                {"title": "Two", "body": "The search", "target": "#search"},
                {"title": "Three", "body": "The profile", "target": "#profile"},
            ],
        });
        let draft: Value = self
            .request(Method::POST, "/v1/admin/content", key)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = draft["id"].as_str().unwrap().to_owned();
        let published: Value = self
            .request(
                Method::POST,
                &format!("/v1/admin/content/{id}/publish"),
                key,
            )
            .header("if-match", format!("\"{}\"", draft["revision"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let steps = published["body"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        (id, steps)
    }

    /// A tenant with `events` events over the last 28 days, spread over tours (1 per 1,000
    /// events, at least 1, at most 60) and users, and metrics for this month and the last.
    async fn populated(&self, id: &str, events: usize) -> (TenantId, String) {
        let (tenant, key) = self.tenant(id).await;
        let tours = (events / 1_000).clamp(1, 60);
        let mut content = Vec::new();
        for t in 0..tours {
            content.push(self.tour(&key, &format!("Tour {t}")).await);
        }
        let now = OffsetDateTime::now_utc();
        let mut batch = Vec::with_capacity(BATCH);
        for i in 0..events {
            let (content_id, steps) = &content[i % content.len()];
            let at =
                now - time::Duration::hours((i % (28 * 24)) as i64) - time::Duration::minutes(1);
            batch.push(json!({
                "event_id": uuid::Uuid::new_v4(),
                "type": KINDS[i % KINDS.len()],
                "content_id": content_id,
                "content_version": 1,
                "step_id": steps[(i / 7) % steps.len()],
                "ts": at.format(&Rfc3339).unwrap(),
                "anonymous_id": format!("user-{}", i % (events / 3 + 1)),
            }));
            if batch.len() == BATCH || i + 1 == events {
                let sent = self
                    .request(Method::POST, "/v1/sdk/events", &key)
                    .json(&json!({"sent_at": now.format(&Rfc3339).unwrap(), "events": batch}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
                batch = Vec::with_capacity(BATCH);
            }
        }
        while data_plane::events::runner::sweep(&self.state.backend)
            .await
            .unwrap()
            .folded
            > 0
        {}
        let this = month_of(now.date());
        let last = month_of(now.date().replace_day(1).unwrap().previous_day().unwrap());
        let subjects = (events / 5_000).clamp(1, 20);
        let mut csv = String::from("subject,period,value,unit\n");
        for s in 0..subjects {
            csv.push_str(&format!("metric-{s},{last},{},EUR\n", 1_000 + s * 10));
            csv.push_str(&format!("metric-{s},{this},{},EUR\n", 1_100 + s * 15));
        }
        let uploaded = self
            .request(Method::POST, "/v1/admin/metrics", &key)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), 200);
        (tenant, key)
    }
}

fn month_of(day: time::Date) -> String {
    format!("{:04}-{:02}", day.year(), u8::from(day.month()))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let model = std::env::var("SPOTLIGHT_OLLAMA_URL").ok().map(|url| {
        let base = url::Url::parse(&format!("{}/", url.trim_end_matches('/'))).unwrap();
        Arc::new(OllamaLlm::new(&base, "smollm2:135m", Duration::from_secs(120)).unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    let mut settings = DataPlaneSettings::for_data_dir(dir.path());
    settings.process_outbox = false;
    settings.llm_rate_per_minute = Bounded::must(100_000);
    settings.llm_burst = Bounded::must(100_000);
    settings.monthly_tokens_standard = Bounded::must(1_000_000_000);
    let backend = tenancy::open(&settings.backend).await.unwrap();
    let pepper = SecretString::from(PEPPER);
    let provisioner = Provisioner::new(backend.clone(), settings.backend.clone());
    let mut state = AppState::new(backend, settings, &pepper).unwrap();
    if let Some(model) = &model {
        state = state.with_llm(model.clone());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(data_plane::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let bench = Bench {
        url,
        http: reqwest::Client::new(),
        provisioner,
        hasher: service::secrets::key_hasher(&pepper),
        state,
    };

    println!(
        "| events per tenant | facts (omitted) | prompt chars | prompt tokens, narrator's estimate | prompt tokens, SmolLM2's count | target |"
    );
    println!("|---|---|---|---|---|---|");
    let mut largest = None;
    let mut questioned = None;
    for (n, events) in SIZES.into_iter().enumerate() {
        let started = Instant::now();
        let (tenant, key) = bench.populated(&format!("size-{n}"), events).await;
        let setup = started.elapsed();
        let record = bench
            .state
            .backend
            .registry
            .get_tenant(&tenant)
            .await
            .unwrap();
        let tables = TenantTables::new(
            tenant.clone(),
            bench.state.backend.items.clone(),
            &record.resources,
        );
        let drafts = tables.content().list().await.unwrap();
        let period = Period::parse(&month_of(OffsetDateTime::now_utc().date())).unwrap();
        let facts = sheet::build(&tables, &drafts, &period).await.unwrap();
        let system = summary::system_prompt(&facts);
        let question = summary::summary_question(&facts);
        let prompt_chars = system.chars().count() + question.text.chars().count();
        let estimate = estimate_tokens(&system) + estimate_tokens(&question.text);
        let counted = match &model {
            Some(model) => {
                let done = model
                    .complete(&ChatRequest {
                        system: system.clone(),
                        messages: vec![question.clone()],
                        max_tokens: 1,
                        temperature: 0.0,
                        facts: facts.clone(),
                    })
                    .await
                    .unwrap();
                done.input_tokens.to_string()
            }
            None => "not run (no SPOTLIGHT_OLLAMA_URL)".to_owned(),
        };
        println!(
            "| {events} | {} ({}) | {prompt_chars} | {estimate} | {counted} | ≤ 2,000 |",
            facts.facts.len(),
            facts.omitted
        );
        eprintln!(
            "  (tenant of {events} events set up in {:.1} s)",
            setup.as_secs_f64()
        );
        if events == 1_000 {
            questioned = Some(key);
        }
        largest = Some(facts);
    }

    let facts = largest.unwrap();
    let mut times = Vec::with_capacity(NARRATIONS);
    for _ in 0..NARRATIONS {
        let started = Instant::now();
        let request = ChatRequest {
            system: summary::system_prompt(&facts),
            messages: vec![Message {
                role: Role::User,
                text: "How did we do?".to_owned(),
            }],
            max_tokens: summary::MAX_ANSWER_TOKENS,
            temperature: 0.0,
            facts: facts.clone(),
        };
        let answer = summary::write(
            &Narrator,
            request.system.clone(),
            request.messages.clone(),
            request.facts,
        )
        .await;
        std::hint::black_box(answer);
        times.push(started.elapsed());
    }
    times.sort();
    println!();
    println!(
        "Narrator on the 100,000-event sheet ({} facts), prompt, text and post-check, {NARRATIONS} runs: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target ≤ 10 ms)",
        facts.facts.len(),
        pct(&times, 0.50).as_secs_f64() * 1e3,
        pct(&times, 0.99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );

    let Some(_) = &model else {
        println!(
            "\nReal model: not run (start scripts/local-model.sh and set SPOTLIGHT_OLLAMA_URL)."
        );
        return;
    };
    let key = questioned.unwrap();
    let today = OffsetDateTime::now_utc().date();
    let questions = [
        "How are our tours doing?",
        "Give me an overview of the activity.",
        "Where do users drop off in Tour 0?",
        "What is the completion rate of our tours?",
        "Which selectors are broken?",
        "Are targets missing on any step?",
        "How is metric-0 trending?",
        "What is the trend of our metrics?",
        "Compare events with the previous period.",
        "Did clicks grow or decrease?",
    ];
    let periods = [
        month_of(today),
        "last month".to_owned(),
        "this quarter".to_owned(),
        "yesterday".to_owned(),
        "today".to_owned(),
    ];
    let (mut grounded, mut regenerated, mut fallback, mut calls, mut unbacked) = (0, 0, 0, 0, 0);
    let started = Instant::now();
    let mut asked = 0;
    for period in &periods {
        for question in questions {
            let text = format!("{question} ({period})");
            let reply: Value = bench
                .request(Method::POST, "/v1/admin/chat", &key)
                .json(&json!({ "text": text }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let record = &reply["answer"]["answer"];
            match record["outcome"].as_str() {
                Some("grounded") if record["source"] == "model" => grounded += 1,
                Some("regenerated") => regenerated += 1,
                Some("fallback") => fallback += 1,
                // A sheet with no facts for the question: the narrator, without a model call.
                _ => {}
            }
            calls += record["model_calls"].as_u64().unwrap_or(0);
            let sheet: data_plane::insights::facts::FactSheet =
                serde_json::from_value(record["facts"].clone()).unwrap();
            let answer = reply["answer"]["text"].as_str().unwrap();
            unbacked += data_plane::insights::check::unmatched(answer, &sheet).len();
            asked += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let answered_by_model = grounded + regenerated + fallback;
    println!();
    println!(
        "SmolLM2-135M (one thread), {asked} chat questions on the 1,000-event tenant: {:.2} answers/s ({elapsed:.1} s, {calls} model calls, {:.2} s per call)",
        asked as f64 / elapsed,
        elapsed / calls.max(1) as f64
    );
    println!(
        "  of the {answered_by_model} the model was asked: grounded on the first try {grounded} ({:.0}%), after regeneration {regenerated} ({:.0}%), by fallback {fallback} ({:.0}%); answered without a model (no facts) {}",
        100.0 * grounded as f64 / answered_by_model.max(1) as f64,
        100.0 * regenerated as f64 / answered_by_model.max(1) as f64,
        100.0 * fallback as f64 / answered_by_model.max(1) as f64,
        asked - answered_by_model
    );
    println!("  numbers of final answers no fact backs: {unbacked}");
}
