//! A tenant's own business metrics (sign-ups, revenue, …) uploaded next to its analytics, so
//! that summaries can speak of both: [`period`] (a day, month or quarter), [`upload`] (CSV or
//! JSON rows, checked whole before any write) and [`store`] (one item per subject and period
//! in the tenant's app table).

pub mod period;
pub mod store;
pub mod upload;
