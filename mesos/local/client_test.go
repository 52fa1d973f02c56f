package local

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/backoff"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"

	"github.com/webfarm/webfarm/mesos/local/localtls"
)

// TestMesosGoClient runs mesos-go's own scheduler client (httpsched and the
// controller) against the cluster: it launches tasks on offers, acknowledges
// updates and stops when all have finished.
func TestMesosGoClient(t *testing.T) {
	bundle, err := localtls.New()
	if err != nil {
		t.Fatal(err)
	}
	creds := &Credentials{Principal: "webfarm", Secret: "s3cret"}
	tests := []struct {
		name      string
		codec     string
		tls       bool
		auth      *Credentials // the cluster's
		clientPwd string       // the client's password ("" = none)
		wantCode  apierrors.Code
	}{
		{name: "protobuf", codec: codecs.NameProtobuf},
		{name: "json", codec: codecs.NameJSON},
		{name: "TLS and basic auth", codec: codecs.NameProtobuf, tls: true, auth: creds, clientPwd: "s3cret"},
		{name: "wrong password is refused", codec: codecs.NameJSON, auth: creds, clientPwd: "wrong", wantCode: apierrors.CodeNotAuthenticated},
		{name: "no credentials are refused", codec: codecs.NameJSON, tls: true, auth: creds, wantCode: apierrors.CodeNotAuthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Agents: 2, Auth: tc.auth}
			var cfgOpts []httpcli.ConfigOpt
			if tc.tls {
				cfg.TLS = bundle.Server
				cfgOpts = append(cfgOpts, httpcli.TLSConfig(bundle.Client))
			}
			if tc.clientPwd != "" {
				cfgOpts = append(cfgOpts, httpcli.BasicAuth("webfarm", tc.clientPwd))
			}
			c := startCluster(t, cfg)
			if tc.tls && !strings.HasPrefix(c.URL(), "https://127.0.0.1:") {
				t.Fatalf("URL %s, want https on 127.0.0.1", c.URL())
			}
			codec := codecs.ByMediaType[codecs.MediaTypeProtobuf]
			if tc.codec == codecs.NameJSON {
				codec = codecs.ByMediaType[codecs.MediaTypeJSON]
			}
			cli := httpcli.New(httpcli.Endpoint(c.URL()), httpcli.Codec(codec), httpcli.Do(httpcli.With(cfgOpts...)))
			if tc.wantCode == 0 {
				if err := runMesosGoScheduler(t, httpsched.NewCaller(cli), 4); err != nil {
					t.Fatalf("scheduler: %v", err)
				}
				return
			}
			// httpsched retries every error as a possible leader change, so
			// ask the plain client, which reports the status as it is.
			fi := frameworkInfo("refused")
			resp, err := cli.Do(calls.Subscribe(&fi))
			if resp != nil {
				resp.Close()
			}
			var apiErr *apierrors.Error
			if !errors.As(err, &apiErr) || !tc.wantCode.Matches(err) {
				t.Fatalf("SUBSCRIBE: %v, want HTTP %d", err, tc.wantCode)
			}
		})
	}
}

// runMesosGoScheduler launches n one-shot tasks and returns when they all
// finished, or the first subscription error.
func runMesosGoScheduler(t *testing.T, caller calls.Caller, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	fidStore := store.NewInMemorySingleton()
	caller = callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fidStore))).Caller(caller)
	var (
		mu       sync.Mutex
		launched int
		finished int
		runErr   error
	)
	handler := events.Handlers{
		scheduler.Event_SUBSCRIBED: controller.TrackSubscription(fidStore, 0).HandleF(func(context.Context, *scheduler.Event) error { return nil }),
		scheduler.Event_OFFERS: events.HandlerFunc(func(ctx context.Context, e *scheduler.Event) error {
			for _, o := range e.GetOffers().GetOffers() {
				var tasks []mesos.TaskInfo
				mu.Lock()
				for launched < n && len(tasks) < 2 {
					launched++
					tasks = append(tasks, cmdTask(o, fmt.Sprintf("task-%d", launched), "test -n \"$MESOS_SANDBOX\"", nil))
				}
				mu.Unlock()
				accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(time.Hour))
				if err := calls.CallNoData(ctx, caller, accept); err != nil {
					return err
				}
			}
			return nil
		}),
		scheduler.Event_UPDATE: controller.AckStatusUpdates(caller).AndThen().HandleF(func(ctx context.Context, e *scheduler.Event) error {
			st := e.GetUpdate().GetStatus()
			mu.Lock()
			defer mu.Unlock()
			switch st.GetState() {
			case mesos.TASK_FINISHED:
				finished++
				if finished == n {
					cancel()
				}
			case mesos.TASK_FAILED, mesos.TASK_LOST, mesos.TASK_ERROR, mesos.TASK_KILLED:
				runErr = fmt.Errorf("task %s: %s %s", st.TaskID.Value, st.GetState(), st.GetMessage())
				cancel()
			}
			return nil
		}),
	}
	fi := frameworkInfo("mesos-go")
	var subErr error
	err := controller.Run(ctx, &fi, caller,
		controller.WithEventHandler(handler),
		controller.WithFrameworkID(store.GetIgnoreErrors(fidStore)),
		controller.WithRegistrationTokens(backoff.Notifier(10*time.Millisecond, 100*time.Millisecond, ctx.Done())),
		controller.WithSubscriptionTerminated(func(err error) {
			if err != nil && subErr == nil && !errors.Is(err, context.Canceled) {
				subErr = err
				cancel() // a refused subscription is final here
			}
		}),
	)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case runErr != nil:
		return runErr
	case finished == n:
		return nil
	case subErr != nil:
		return subErr
	}
	return fmt.Errorf("finished %d of %d tasks: %v", finished, n, err)
}
