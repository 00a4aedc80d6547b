//! `StreamTriggers` cases: a table's stream linked to a function once, listed by stream,
//! removed by id; and the stream ARNs `TableAdmin` reports that they start from.

use crate::conformance::support::{Fixture, assert_kind};
use crate::error::ErrorKind;
use crate::naming::{TAG_MANAGED_BY, TAG_TENANT, Tags};
use crate::ports::stream_trigger::{
    BATCH_SIZE, BATCHING_WINDOW_SECS, TriggerSpec, TriggerState, stream_table_arn,
    trigger_id_of_arn,
};
use crate::table_plan::TableSpec;

/// Creates a table with a stream (`stream: true`, as a tenant's events table has) and returns
/// its stream's ARN.
async fn streamed_table(fx: &Fixture, what: &str) -> (TableSpec, String) {
    let spec = TableSpec {
        stream: true,
        ..fx.table_spec(what, Some("tn"), None)
    };
    let created = fx.backend.tables.create_table(&spec).await.unwrap();
    let stream = created
        .stream_arn
        .clone()
        .expect("a table made with a stream reports its ARN");
    (spec, stream)
}

fn trigger_spec(fx: &Fixture, stream: &str) -> TriggerSpec {
    TriggerSpec {
        stream_arn: stream.to_owned(),
        function: fx.function(),
        batch_size: BATCH_SIZE,
        batching_window_secs: BATCHING_WINDOW_SECS,
        tags: Tags::from([
            (TAG_TENANT.to_owned(), fx.name("tn")),
            (TAG_MANAGED_BY.to_owned(), fx.prefix().to_owned()),
        ]),
    }
}

/// Links `stream` to the fixture's function as planned.
async fn link(fx: &Fixture, stream: &str) -> crate::ports::TriggerInfo {
    fx.backend
        .triggers
        .create_trigger(&trigger_spec(fx, stream))
        .await
        .unwrap()
}

cases!(
    mod stream_trigger;

    pub async fn a_table_reports_its_stream_and_a_table_without_one_none(fx: &Fixture) {
        let (spec, stream) = streamed_table(fx, "with").await;
        let described = fx.backend.tables.describe_table(&spec.name).await.unwrap();
        assert_eq!(described.stream_arn.as_deref(), Some(stream.as_str()));
        assert_eq!(stream_table_arn(&stream), Some(described.arn.as_str()));

        let plain = TableSpec {
            stream: false,
            ..fx.table_spec("without", Some("tn"), None)
        };
        let created = fx.backend.tables.create_table(&plain).await.unwrap();
        assert_eq!(created.stream_arn, None);
        let described = fx.backend.tables.describe_table(&plain.name).await.unwrap();
        assert_eq!(described.stream_arn, None);
    }

    pub async fn a_trigger_links_a_stream_to_a_function_with_its_settings_and_tags(fx: &Fixture) {
        let (_, stream) = streamed_table(fx, "events").await;
        let spec = trigger_spec(fx, &stream);
        let created = fx.backend.triggers.create_trigger(&spec).await.unwrap();
        assert_eq!(created.spec, spec);
        assert_eq!(created.state, TriggerState::Enabled);
        assert!(!created.id.is_empty());
        assert!(created.arn.contains(&created.id), "{}", created.arn);

        let listed = fx
            .backend
            .triggers
            .triggers_of_stream(&stream)
            .await
            .unwrap();
        assert_eq!(listed, std::slice::from_ref(&created));
        let described = fx
            .backend
            .triggers
            .describe_trigger(&created.id)
            .await
            .unwrap();
        assert_eq!(described, created);
        assert_eq!(trigger_id_of_arn(&created.arn), created.id);
    }

    pub async fn a_second_trigger_of_a_stream_to_the_same_function_is_already_exists(fx: &Fixture) {
        let (_, stream) = streamed_table(fx, "events").await;
        let spec = trigger_spec(fx, &stream);
        fx.backend.triggers.create_trigger(&spec).await.unwrap();
        let other_settings = TriggerSpec {
            batch_size: BATCH_SIZE * 2,
            ..spec.clone()
        };
        assert_kind(
            fx.backend.triggers.create_trigger(&other_settings).await,
            ErrorKind::AlreadyExists,
            "the same stream and function again",
        );
        let listed = fx
            .backend
            .triggers
            .triggers_of_stream(&stream)
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].spec.batch_size, BATCH_SIZE);
    }

    pub async fn a_trigger_of_a_stream_that_does_not_exist_is_not_found(fx: &Fixture) {
        let (_, stream) = streamed_table(fx, "events").await;
        let table = stream_table_arn(&stream).unwrap();
        let missing_table = table.replace(&fx.name("events"), &fx.name("missing"));
        for ghost in [
            format!("{missing_table}/stream/2026-01-01T00:00:00.000"),
            format!("{table}/stream/1999-01-01T00:00:00.000"),
        ] {
            assert_kind(
                fx.backend
                    .triggers
                    .create_trigger(&trigger_spec(fx, &ghost))
                    .await,
                ErrorKind::NotFound,
                &format!("a trigger of {ghost}"),
            );
            let none = fx
                .backend
                .triggers
                .triggers_of_stream(&ghost)
                .await
                .unwrap();
            assert_eq!(none, []);
        }
    }

    pub async fn a_deleted_trigger_is_gone_and_deleting_it_again_is_not_found(fx: &Fixture) {
        let (_, stream) = streamed_table(fx, "events").await;
        let created = link(fx, &stream).await;
        fx.backend
            .triggers
            .delete_trigger(&created.id)
            .await
            .unwrap();
        let listed = fx
            .backend
            .triggers
            .triggers_of_stream(&stream)
            .await
            .unwrap();
        assert_eq!(listed, []);
        assert_kind(
            fx.backend.triggers.describe_trigger(&created.id).await,
            ErrorKind::NotFound,
            "describing it after its deletion",
        );
        assert_kind(
            fx.backend.triggers.delete_trigger(&created.id).await,
            ErrorKind::NotFound,
            "deleting it again",
        );
        // The stream may be linked again.
        link(fx, &stream).await;
    }

    pub async fn triggers_are_listed_per_stream(fx: &Fixture) {
        let (_, first) = streamed_table(fx, "first").await;
        let (_, second) = streamed_table(fx, "second").await;
        let a = link(fx, &first).await;
        let b = link(fx, &second).await;
        assert_ne!(a.id, b.id);
        assert_eq!(
            fx.backend
                .triggers
                .triggers_of_stream(&first)
                .await
                .unwrap(),
            [a]
        );
        assert_eq!(
            fx.backend
                .triggers
                .triggers_of_stream(&second)
                .await
                .unwrap(),
            [b]
        );
    }
);
