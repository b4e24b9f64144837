//! Error answers that many endpoints share, as reusable responses of the OpenAPI document
//! (`#/components/responses/…`); each carries an [`ErrorBody`].

use super::error::ErrorBody;

/// The body is not JSON
#[derive(Debug, utoipa::ToResponse)]
pub struct Malformed(pub ErrorBody);

/// An API key is needed and was not given, or is not valid
#[derive(Debug, utoipa::ToResponse)]
pub struct Unauthorized(pub ErrorBody);

/// This API key may not change environments
#[derive(Debug, utoipa::ToResponse)]
pub struct Forbidden(pub ErrorBody);

/// No such environment (or not this caller's)
#[derive(Debug, utoipa::ToResponse)]
pub struct NoSuchEnvironment(pub ErrorBody);

/// No such session (or not this caller's)
#[derive(Debug, utoipa::ToResponse)]
pub struct NoSuchSession(pub ErrorBody);

/// The session is running another call, or has ended
#[derive(Debug, utoipa::ToResponse)]
pub struct SessionUnavailable(pub ErrorBody);

/// The body or the code is larger than allowed
#[derive(Debug, utoipa::ToResponse)]
pub struct CodeTooLarge(pub ErrorBody);

/// A field has the wrong type or a value out of range; the message names it
#[derive(Debug, utoipa::ToResponse)]
pub struct Invalid(pub ErrorBody);

/// Over the key's quota
#[derive(Debug, utoipa::ToResponse)]
pub struct OverQuota(pub ErrorBody);
