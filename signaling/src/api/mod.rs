//! The REST API under `/api/v1` (`docs/api.md`), grouped by who calls it. Each group's
//! module has its routes next to its handlers; a handler reads as one line of intent over
//! [`vidid_control::Coordinator`] or [`vidid_cases::Cases`].
//!
//! | module | principal |
//! |---|---|
//! | [`ordering`] | the ordering system (API key): create, read, cancel cases |
//! | [`customer`] | the customer (link token): status, ID photo, data, queue, TAN |
//! | [`session`] | staff signing in and out |
//! | [`agent`] | agents: availability, queue, take, checks, TAN, instructions, snapshots, decisions |
//! | [`compliance`] | compliance staff: search, purpose grants, dossier, evidence, audio, trail |
//! | [`board`] | supervisors: the live board |
//! | [`calls`] | the bare calls API (API key; one machine only, `--role all`) |
//!
//! The authorization matrix (which role may do what) is `vidid_cases::users`; the extractors
//! in [`extract`] establish who is calling; [`error`] is the one table from an error to its
//! HTTP status; [`views`] are the typed answers.

use std::sync::Arc;

use axum::Router;

use crate::AppState;

pub mod agent;
pub mod board;
pub mod calls;
pub mod compliance;
pub mod customer;
pub mod error;
pub mod extract;
pub mod ordering;
pub mod session;
pub mod views;

pub use error::{ApiError, ApiResult};

/// The cases API: every group above but the bare calls API. Handlers read their bodies with
/// their own limits (JSON 16 KiB, images 8 MiB) and answer with JSON errors.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .merge(ordering::routes())
        .merge(customer::routes())
        .merge(session::routes())
        .merge(agent::routes())
        .merge(compliance::routes())
        .merge(board::routes())
        .layer(axum::extract::DefaultBodyLimit::max(
            extract::MAX_PHOTO_BYTES + 1024,
        ))
}
