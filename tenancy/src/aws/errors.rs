//! SDK failures as neutral [`Error`]s: the one place the AWS adapters read AWS error codes.

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

use crate::error::{Error, ErrorKind};

/// The kind of an AWS error `code` (the service's exception name, or an EventBridge entry's
/// error code), if it says.
pub(crate) fn kind_of_code(code: &str) -> Option<ErrorKind> {
    Some(match code {
        "NotFoundException"
        | "ResourceNotFoundException"
        | "NoSuchEntity"
        | "UserNotFoundException" => ErrorKind::NotFound,
        "AlreadyExistsException"
        | "ResourceInUseException"
        | "EntityAlreadyExists"
        | "TableAlreadyExistsException"
        | "UsernameExistsException" => ErrorKind::AlreadyExists,
        "ConditionalCheckFailedException" | "TransactionCanceledException" => {
            ErrorKind::ConditionFailed
        }
        "ThrottlingException"
        | "Throttling"
        | "LimitExceededException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        // DynamoDB: another transaction holds an item; the write is safe to retry.
        | "TransactionConflictException"
        | "TransactionInProgressException" => ErrorKind::Throttled,
        "AccessDeniedException"
        | "AccessDenied"
        | "UnmodifiableEntity"
        | "UnauthorizedOperation"
        | "KMSInvalidStateException"
        | "DisabledException"
        | "KMSAccessDeniedException"
        // EventBridge: a bus that refuses events of this source or detail type.
        | "NotAuthorizedForSourceException"
        | "NotAuthorizedForDetailTypeException"
        // Cognito: a refused sign-in (wrong password, disabled user).
        | "NotAuthorizedException"
        | "UserNotConfirmedException" => ErrorKind::AccessDenied,
        "ValidationException"
        | "InvalidParameterValue"
        | "InvalidCiphertextException"
        | "IncorrectKeyException"
        | "InvalidAliasNameException"
        | "InvalidArnException"
        | "MalformedPolicyDocument"
        | "InvalidInput"
        | "InvalidParameterException"
        | "InvalidPasswordException"
        | "ValidationError"
        // IAM's account quotas (roles, policy size): not a throttle, retrying cannot help.
        | "LimitExceeded"
        | "TagException"
        | "ItemCollectionSizeLimitExceededException"
        // EventBridge's refusals of one entry.
        | "InvalidArgument"
        | "MalformedDetail"
        | "InvalidAccountIdException"
        | "RedactionFailure" => ErrorKind::Invalid,
        "KMSInternalException"
        | "DependencyTimeoutException"
        | "InternalServerError"
        | "ServiceFailure"
        | "InternalFailure"
        | "InternalErrorException"
        | "InternalException"
        | "ServiceUnavailable" => ErrorKind::Unavailable,
        _ => return None,
    })
}

/// `err` of the call `what` (which names the thing and for whom) as a neutral [`Error`].
///
/// A service error is classified by its code, or — when the body could not be parsed into
/// one, as moto's XML 403 for a denied call is not — by its HTTP status: 403 is
/// `AccessDenied`, 404 `NotFound`, 429 `Throttled`, 4xx `Invalid`, anything else
/// `Unavailable`. A failure to send at all (no connection, timeout) is `Unavailable`.
pub(crate) fn sdk_error<E>(what: impl Into<String>, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let what = what.into();
    let (kind, detail) = match &err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let status = service.raw().status().as_u16();
            let kind = inner
                .code()
                .and_then(kind_of_code)
                .unwrap_or_else(|| kind_of_status(status));
            let detail = match (inner.code(), inner.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => format!("HTTP {status}"),
            };
            (kind, detail)
        }
        SdkError::ResponseError(response) => {
            let status = response.raw().status().as_u16();
            (
                kind_of_status(status),
                format!("unreadable HTTP {status} answer"),
            )
        }
        SdkError::TimeoutError(_) => (ErrorKind::Unavailable, "timed out".to_owned()),
        SdkError::DispatchFailure(_) => (ErrorKind::Unavailable, "could not be sent".to_owned()),
        _ => (ErrorKind::Unavailable, err.to_string()),
    };
    Error::new(kind, format!("{what}: {detail}")).with_source(err)
}

fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        403 => ErrorKind::AccessDenied,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::Throttled,
        400..=499 => ErrorKind::Invalid,
        _ => ErrorKind::Unavailable,
    }
}
