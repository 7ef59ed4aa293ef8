package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// The plugin returns HTTPStatus with the query's error.
var _ source.StatusError = (*Error)(nil)

// Kind classifies what went wrong with a CloudWatch Logs call.
type Kind int

// Error kinds.
const (
	KindOther        Kind = iota
	KindThrottled         // throttling or too many concurrent Insights queries, still failing after retries
	KindAccessDenied      // the identity lacks a permission
	KindCredentials       // missing, invalid or expired credentials
	KindNotFound          // the log group does not exist (in this region and account)
	KindInvalid           // the service rejected the request's parameters or query
	KindQueryFailed       // a Logs Insights query ended Failed, Cancelled or Timeout
	KindUnavailable       // the endpoint cannot be reached or answers 5xx after retries
)

// Error is a CloudWatch Logs failure. Every kind is a downstream fault (the user's settings or
// permissions, or AWS), never a plugin bug.
type Error struct {
	Kind     Kind
	Op       string // the API operation, e.g. FilterLogEvents
	LogGroup string // may be empty
	Code     string // the AWS error code, e.g. ThrottlingException
	Msg      string // an actionable sentence
	Err      error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus is the status that best describes the error to Grafana.
func (e *Error) HTTPStatus() int {
	switch e.Kind {
	case KindThrottled:
		return http.StatusTooManyRequests
	case KindAccessDenied:
		return http.StatusForbidden
	case KindCredentials:
		return http.StatusUnauthorized
	case KindNotFound:
		return http.StatusNotFound
	case KindInvalid:
		return http.StatusBadRequest
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// Downstream is always true: CloudWatch errors are the environment's, not the plugin's.
func (e *Error) Downstream() bool { return true }

// classify turns an AWS SDK error into *Error. Context errors are returned as they are.
func classify(err error, op, group string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	where := ""
	if group != "" {
		where = " on log group " + group
	}
	out := &Error{Op: op, LogGroup: group, Err: err}
	var apiErr smithy.APIError
	var signErr *v4.SigningError
	var netErr net.Error
	switch {
	case errors.As(err, &apiErr):
		out.Code = apiErr.ErrorCode()
		detail := apiErr.ErrorMessage()
		switch out.Code {
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded":
			out.Kind = KindThrottled
			out.Msg = fmt.Sprintf("CloudWatch Logs throttled %s%s even after %d attempts (the FilterLogEvents quota is 5 requests/s per account and region, shared with every other client): retry later, narrow the time range, or lower requestsPerSecond", op, where, MaxRetryAttempts)
		case "LimitExceededException":
			out.Kind = KindThrottled
			out.Msg = fmt.Sprintf("CloudWatch Logs refused %s%s: too many concurrent Logs Insights queries in this account and region (%s); lower maxConcurrentInsights or retry later", op, where, detail)
		case "AccessDeniedException", "AccessDenied":
			out.Kind = KindAccessDenied
			out.Msg = fmt.Sprintf("access denied to %s%s: the AWS identity needs logs:%s on the log group; the plugin uses logs:FilterLogEvents, logs:DescribeLogGroups, logs:DescribeLogStreams, logs:StartQuery, logs:GetQueryResults and logs:StopQuery (%s)", op, where, op, detail)
		case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature", "MissingAuthenticationToken",
			"InvalidClientTokenId", "SignatureDoesNotMatch":
			out.Kind = KindCredentials
			out.Msg = fmt.Sprintf("AWS rejected the credentials for %s (%s: %s): check the access key, secret key or profile", op, out.Code, detail)
		case "ExpiredTokenException", "ExpiredToken", "RequestExpired", "TokenRefreshRequired":
			out.Kind = KindCredentials
			out.Msg = fmt.Sprintf("the AWS credentials have expired (%s on %s): refresh them, or use a role or profile that renews them", out.Code, op)
		case "ResourceNotFoundException":
			out.Kind = KindNotFound
			out.Msg = fmt.Sprintf("log group %s does not exist in this account and region (%s): check the cluster name and region, and that the cluster's audit log is enabled (EKS control plane logging, log type audit)", group, detail)
			if group == "" {
				out.Msg = fmt.Sprintf("%s: resource not found (%s)", op, detail)
			}
		case "InvalidParameterException", "ValidationException", "MalformedQueryException", "InvalidOperationException":
			out.Kind = KindInvalid
			out.Msg = fmt.Sprintf("CloudWatch Logs rejected %s%s (%s): %s", op, where, out.Code, detail)
		case "ServiceUnavailableException", "InternalFailure", "ServiceUnavailable":
			out.Kind = KindUnavailable
			out.Msg = fmt.Sprintf("CloudWatch Logs is unavailable (%s on %s, still failing after %d attempts): retry later", out.Code, op, MaxRetryAttempts)
		default:
			out.Msg = fmt.Sprintf("CloudWatch Logs %s%s failed (%s): %s", op, where, out.Code, detail)
		}
	case errors.As(err, &signErr):
		out.Kind = KindCredentials
		out.Msg = fmt.Sprintf("no usable AWS credentials for %s: %v (with default authentication, set AWS_* variables, a web identity or an instance role; or use keys or a credentials profile)", op, signErr.Err)
	case errors.As(err, &netErr):
		out.Kind = KindUnavailable
		out.Msg = fmt.Sprintf("cannot reach CloudWatch Logs for %s: %v (check the region, the endpoint and the network path to AWS)", op, netErr)
	default:
		out.Msg = fmt.Sprintf("CloudWatch Logs %s%s failed: %v", op, where, err)
	}
	return out
}
