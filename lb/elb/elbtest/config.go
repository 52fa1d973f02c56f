package elbtest

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Credentials used by AWSConfig. The secret and the session token are
// distinctive so that tests can prove they never reach a log.
const (
	AccessKeyID     = "AKIAFAKEAWSTEST00001"
	SecretAccessKey = "elbtest-SECRET-do-not-log-7f3a9c"
	SessionToken    = "elbtest-SESSION-TOKEN-do-not-log-21be"
)

// MaxAttempts is the number of attempts the retryer of AWSConfig makes.
const MaxAttempts = 4

// AWSConfig returns an aws.Config aimed at the fake: static credentials,
// the fake's region and URL as BaseEndpoint, and the SDK's standard
// retryer with MaxAttempts attempts and a 1–2 ms backoff (so throttling
// tests take milliseconds) and no retry quota. Every config of one Server
// shares one HTTP client, so that tests creating many balancers reuse
// connections instead of exhausting loopback ports.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		HTTPClient:   s.srv.Client(),
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, SessionToken),
		BaseEndpoint: aws.String(s.URL),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = MaxAttempts
				o.RateLimiter = ratelimit.None
				o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
					return time.Duration(attempt) * time.Millisecond, nil
				})
			})
		},
	}
}
