//! Tours, tooltips, spotlights, modals, banners, hotspots, checklists and surveys.

pub mod catalog;
pub mod model;
pub mod progress;
pub mod store;
pub mod targeting;
pub mod validate;
