//! Written summaries of a tenant's analytics whose numbers are true: the fact sheet every
//! number comes from ([`facts`]), the post-check that holds an answer to it ([`check`]), and
//! the `Llm` port with its adapters ([`llm`]; the template narrator needs no model), the sheet
//! of a period built from the aggregates ([`sheet`]) and the checked summary ([`summary`]).

pub mod ask;
pub mod bedrock;
pub mod cache;
pub mod check;
pub mod classify;
pub mod facts;
pub mod llm;
pub mod ollama;
pub mod session;
pub mod sheet;
pub mod summary;
