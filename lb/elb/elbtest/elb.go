package elbtest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	elbv2Version   = "2015-12-01"
	classicVersion = "2012-06-01"
)

// TargetGroup is a fake ELBv2 target group.
type TargetGroup struct {
	// ARN names the group.
	ARN string
	// LoadBalancerARNs are the load balancers that route to it.
	LoadBalancerARNs []string
	// TargetType is "ip" or "instance".
	TargetType string
	// Protocol is HTTP, HTTPS, TCP, UDP, TLS or TCP_UDP.
	Protocol string
	// Port is the group's default target port.
	Port int
	// DeregistrationDelay is how long a deregistered target drains.
	DeregistrationDelay time.Duration
	// HealthyAfter is how long a new target stays "initial".
	HealthyAfter time.Duration
	// StuckDraining keeps deregistered targets draining for ever, as
	// long-lived connections can when the delay attribute was lowered.
	StuckDraining bool
	// ConnectionTermination is the NLB attribute
	// deregistration_delay.connection_termination.enabled (false by
	// default, as in AWS). Only NLB groups (Protocol TCP, UDP, TLS or
	// TCP_UDP) report it.
	ConnectionTermination bool

	targets map[string]*target
	// lingering holds the open flows of NLB targets that are "unused"
	// but whose flows connection termination did not end.
	lingering map[string]int
}

type target struct {
	id           string
	port         int
	az           string
	registered   time.Time
	deregistered time.Time
	flows        int
}

// nlb reports whether the group belongs to a Network Load Balancer.
func (tg *TargetGroup) nlb() bool {
	switch tg.Protocol {
	case "TCP", "UDP", "TLS", "TCP_UDP":
		return true
	}
	return false
}

// ClassicLB is a fake classic load balancer.
type ClassicLB struct {
	// Name names it.
	Name string
	// DrainTimeout is the connection draining timeout; 0 disables draining.
	DrainTimeout time.Duration
	// Listeners are the load balancer's listeners. If empty, one HTTP
	// listener from port 80 to instance port 80.
	Listeners []Listener

	instances map[string]*instance
}

// Listener is a classic load balancer's listener: traffic to
// LoadBalancerPort goes to every registered instance on InstancePort.
type Listener struct {
	Protocol         string
	LoadBalancerPort int
	InstancePort     int
}

type instance struct {
	registered   time.Time
	deregistered time.Time // draining since, if not zero
	drainEnds    time.Time
}

// AddTargetGroup creates a target group.
func (s *Server) AddTargetGroup(tg TargetGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg.targets = map[string]*target{}
	tg.lingering = map[string]int{}
	s.groups[tg.ARN] = &tg
}

// AddClassic creates a classic load balancer.
func (s *Server) AddClassic(c ClassicLB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.instances = map[string]*instance{}
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Protocol: "HTTP", LoadBalancerPort: 80, InstancePort: 80}}
	}
	s.classic[c.Name] = &c
}

// TargetState returns the ELB state of target id:port in the group
// ("unused" when it is not registered).
func (s *Server) TargetState(arn, id string, port int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg := s.groups[arn]
	if tg == nil {
		return ""
	}
	t := tg.targets[targetKey(id, port)]
	if t == nil {
		return "unused"
	}
	st, _ := tg.state(t, s.now)
	return st
}

// Targets lists the group's targets that are registered or draining, as
// "id:port=state", sorted.
func (s *Server) Targets(arn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if tg := s.groups[arn]; tg != nil {
		for _, t := range tg.targets {
			if s.terminated[t.id] {
				continue
			}
			if st, _ := tg.state(t, s.now); st != "unused" {
				out = append(out, targetKey(t.id, t.port)+"="+st)
			}
		}
	}
	slices.Sort(out)
	return out
}

// RegisterExternally registers a target as another tool would (the
// driver did not add it).
func (s *Server) RegisterExternally(arn, id string, port int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg := s.groups[arn]
	tg.targets[targetKey(id, port)] = &target{id: id, port: port, registered: s.now}
}

// Instances lists a classic load balancer's registered instances that
// are not being deregistered, sorted.
func (s *Server) Instances(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if c := s.classic[name]; c != nil {
		for id, in := range c.instances {
			if in.deregistered.IsZero() {
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// EndConnections tells the fake that the de-registering instance id of
// the classic load balancer name has finished serving its in-flight
// requests, so its connection draining ends now rather than at the
// timeout.
func (s *Server) EndConnections(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.classic[name]; c != nil {
		if in := c.instances[id]; in != nil && !in.deregistered.IsZero() {
			in.drainEnds = s.now
		}
	}
}

// SetFlows sets how many flows (connections) are open to target id:port
// of the group, including one that is "unused" but whose flows an NLB
// keeps. A drain with connection termination enabled ends them.
func (s *Server) SetFlows(arn, id string, port, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg := s.groups[arn]
	if tg == nil {
		return
	}
	k := targetKey(id, port)
	if t := tg.targets[k]; t != nil {
		t.flows = n
		return
	}
	if n == 0 {
		delete(tg.lingering, k)
	} else if _, ok := tg.lingering[k]; ok {
		tg.lingering[k] = n
	}
}

// Flows returns how many flows are open to target id:port of the group.
func (s *Server) Flows(arn, id string, port int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg := s.groups[arn]
	if tg == nil {
		return 0
	}
	k := targetKey(id, port)
	if t := tg.targets[k]; t != nil {
		tg.state(t, s.now)
	}
	if t := tg.targets[k]; t != nil {
		return t.flows
	}
	return tg.lingering[k]
}

// TerminateInstance terminates EC2 instance id: from now on
// DescribeTargetHealth that names it, and RegisterTargets or
// DeregisterTargets of it, fail with InvalidTarget ("The specified target
// does not exist", API_DeregisterTargets), the failure aws-sdk-go-v2's
// TargetDeregistered waiter takes as "deregistered"
// (service/elasticloadbalancingv2/api_op_DescribeTargetHealth.go,
// targetDeregisteredStateRetryable); describing every target leaves it
// out. Classic ELB calls naming it fail with InvalidInstance.
func (s *Server) TerminateInstance(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.terminated[id] = true
}

func targetKey(id string, port int) string { return id + ":" + strconv.Itoa(port) }

// state is the target's ELB state at now, with the reason code. A target
// that finished draining is forgotten.
//
// A deregistered target is "draining" for the whole deregistration delay,
// even when it has no request in flight: "even though target
// deregistration is complete, the status of the target is displayed as
// draining until the deregistration delay timeout expires. After the
// timeout expires, the target transitions to an unused state"
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay,
// and the same section of the NLB guide). At the end of the delay an NLB
// with connection termination on deregistration disabled (the default)
// keeps the target's existing flows open: the target is "unused" while
// they continue (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html#deregistration-delay).
func (tg *TargetGroup) state(t *target, now time.Time) (string, string) {
	switch {
	case !t.deregistered.IsZero() && (tg.StuckDraining || now.Before(t.deregistered.Add(tg.DeregistrationDelay))):
		return "draining", "Target.DeregistrationInProgress"
	case !t.deregistered.IsZero():
		k := targetKey(t.id, t.port)
		delete(tg.targets, k)
		if tg.nlb() && !tg.ConnectionTermination && t.flows > 0 {
			tg.lingering[k] = t.flows
		}
		return "unused", "Target.NotRegistered"
	case now.Before(t.registered.Add(tg.HealthyAfter)):
		return "initial", "Elb.RegistrationInProgress"
	}
	return "healthy", ""
}

type queryError struct {
	status int
	code   string
	msg    string
}

func (e *queryError) Error() string { return e.code + ": " + e.msg }

func sender(code, format string, args ...any) *queryError {
	return &queryError{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}
}

func queryErrorWriter(w http.ResponseWriter, status int, code, msg string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	var b bytes.Buffer
	b.WriteString(`<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>`)
	b.WriteString(typ)
	b.WriteString("</Type><Code>")
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(msg))
	b.WriteString("</Message></Error><RequestId>")
	b.WriteString(w.Header().Get("X-Amzn-Requestid"))
	b.WriteString("</RequestId></ErrorResponse>")
	_, _ = w.Write(b.Bytes())
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, body []byte) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		queryErrorWriter(w, http.StatusBadRequest, "InvalidParameterValue", "elbtest: Content-Type "+ct+" is not a form")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		queryErrorWriter(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	action := form.Get("Action")
	if !s.authorized(w, r, "elasticloadbalancing", action, queryErrorWriter) {
		return
	}
	var result string
	var qerr *queryError
	s.mu.Lock()
	switch form.Get("Version") {
	case elbv2Version:
		result, qerr = s.elbv2(action, form)
	case classicVersion:
		result, qerr = s.classicELB(action, form)
	default:
		qerr = sender("InvalidAction", "elbtest: unknown API version %q", form.Get("Version"))
	}
	s.mu.Unlock()
	if qerr != nil {
		queryErrorWriter(w, qerr.status, qerr.code, qerr.msg)
		return
	}
	ns := "http://elasticloadbalancing.amazonaws.com/doc/" + form.Get("Version") + "/"
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
		action, ns, action, result, action, w.Header().Get("X-Amzn-Requestid"), action)
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

type targetArg struct {
	id   string
	port int
	az   string
}

// members reads prefix.member.N.field (or prefix.member.N when field is
// "") for N = 1, 2, … until one is missing.
func members(form url.Values, prefix string, fields ...string) []map[string]string {
	var out []map[string]string
	for i := 1; ; i++ {
		base := fmt.Sprintf("%s.member.%d", prefix, i)
		m := map[string]string{}
		for _, f := range fields {
			key := base
			if f != "" {
				key += "." + f
			}
			if v, ok := form[key]; ok {
				m[f] = v[0]
			}
		}
		if len(m) == 0 {
			return out
		}
		out = append(out, m)
	}
}

func (tg *TargetGroup) parseTargets(form url.Values) ([]targetArg, *queryError) {
	var out []targetArg
	for i, m := range members(form, "Targets", "Id", "Port", "AvailabilityZone") {
		t := targetArg{id: m["Id"], port: tg.Port, az: m["AvailabilityZone"]}
		if p, ok := m["Port"]; ok {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, sender("ValidationError", "Targets.member.%d.Port %q is not in 1-65535", i+1, p)
			}
			t.port = n
		}
		switch tg.TargetType {
		case "ip":
			if _, err := netip.ParseAddr(t.id); err != nil {
				return nil, sender("InvalidTarget", "The IP address '%s' is not a valid IPv4 address", t.id)
			}
		case "instance":
			if !strings.HasPrefix(t.id, "i-") {
				return nil, sender("InvalidTarget", "The following targets are not valid instances: '%s'", t.id)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func (s *Server) elbv2(action string, form url.Values) (string, *queryError) {
	if action == "DescribeTargetGroups" {
		var b strings.Builder
		for _, m := range members(form, "TargetGroupArns", "") {
			tg := s.groups[m[""]]
			if tg == nil {
				return "", sender("TargetGroupNotFound", "One or more target groups not found")
			}
			fmt.Fprintf(&b, "<member><TargetGroupArn>%s</TargetGroupArn><TargetGroupName>%s</TargetGroupName><Protocol>%s</Protocol><Port>%d</Port><TargetType>%s</TargetType><LoadBalancerArns>",
				esc(tg.ARN), esc(tg.ARN[strings.LastIndex(tg.ARN, "/")+1:]), esc(tg.Protocol), tg.Port, esc(tg.TargetType))
			for _, a := range tg.LoadBalancerARNs {
				fmt.Fprintf(&b, "<member>%s</member>", esc(a))
			}
			b.WriteString("</LoadBalancerArns></member>")
		}
		return "<TargetGroups>" + b.String() + "</TargetGroups>", nil
	}
	tg := s.groups[form.Get("TargetGroupArn")]
	if tg == nil {
		return "", sender("TargetGroupNotFound", "Target groups '%s' not found", form.Get("TargetGroupArn"))
	}
	var ts []targetArg
	if action == "RegisterTargets" || action == "DeregisterTargets" || action == "DescribeTargetHealth" {
		var qerr *queryError
		if ts, qerr = tg.parseTargets(form); qerr != nil {
			return "", qerr
		}
		// A terminated instance is not a valid target (API_DeregisterTargets,
		// API_DescribeTargetHealth: InvalidTarget "The specified target does
		// not exist…"); see TerminateInstance.
		var gone []string
		for _, a := range ts {
			if tg.TargetType == "instance" && s.terminated[a.id] {
				gone = append(gone, a.id)
			}
		}
		if len(gone) > 0 {
			return "", sender("InvalidTarget", "The following targets are not valid instances: '%s'", strings.Join(gone, "', '"))
		}
	}
	switch action {
	case "RegisterTargets":
		if len(ts) == 0 {
			return "", sender("ValidationError", "Targets is required")
		}
		for _, a := range ts {
			k := targetKey(a.id, a.port)
			if t := tg.targets[k]; t != nil && t.deregistered.IsZero() {
				continue // registering a registered target changes nothing
			}
			flows := tg.lingering[k]
			delete(tg.lingering, k)
			if t := tg.targets[k]; t != nil {
				flows = t.flows
			}
			tg.targets[k] = &target{id: a.id, port: a.port, az: a.az, registered: s.now, flows: flows}
		}
		return "", nil
	case "DeregisterTargets":
		if len(ts) == 0 {
			return "", sender("ValidationError", "Targets is required")
		}
		// "If the specified target does not exist, the action returns
		// successfully." (API_DeregisterTargets, Note).
		for _, a := range ts {
			t := tg.targets[targetKey(a.id, a.port)]
			if t != nil {
				tg.state(t, s.now) // forget it if its drain finished
			}
			if t := tg.targets[targetKey(a.id, a.port)]; t != nil && t.deregistered.IsZero() {
				t.deregistered = s.now
			}
		}
		return "", nil
	case "DescribeTargetHealth":
		var b strings.Builder
		write := func(id string, port int, az, state, reason string) {
			fmt.Fprintf(&b, "<member><Target><Id>%s</Id><Port>%d</Port>", esc(id), port)
			if az != "" {
				fmt.Fprintf(&b, "<AvailabilityZone>%s</AvailabilityZone>", esc(az))
			}
			fmt.Fprintf(&b, "</Target><HealthCheckPort>%d</HealthCheckPort><TargetHealth><State>%s</State>", port, state)
			if reason != "" {
				fmt.Fprintf(&b, "<Reason>%s</Reason>", reason)
			}
			b.WriteString("</TargetHealth></member>")
		}
		if len(ts) == 0 {
			keys := make([]string, 0, len(tg.targets))
			for k := range tg.targets {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				t := tg.targets[k]
				if s.terminated[t.id] {
					continue
				}
				if st, reason := tg.state(t, s.now); st != "unused" {
					write(t.id, t.port, t.az, st, reason)
				}
			}
		}
		for _, a := range ts {
			st, reason := "unused", "Target.NotRegistered"
			if t := tg.targets[targetKey(a.id, a.port)]; t != nil {
				st, reason = tg.state(t, s.now)
			}
			write(a.id, a.port, a.az, st, reason)
		}
		return "<TargetHealthDescriptions>" + b.String() + "</TargetHealthDescriptions>", nil
	case "DescribeTargetGroupAttributes":
		var b strings.Builder
		attr := func(k, v string) { fmt.Fprintf(&b, "<member><Key>%s</Key><Value>%s</Value></member>", k, v) }
		attr("deregistration_delay.timeout_seconds", strconv.Itoa(int(tg.DeregistrationDelay/time.Second)))
		attr("stickiness.enabled", "false")
		if tg.nlb() {
			// NLB target groups only (NLB guide, "Edit target group
			// attributes"; API_TargetGroupAttribute).
			attr("deregistration_delay.connection_termination.enabled", strconv.FormatBool(tg.ConnectionTermination))
			attr("preserve_client_ip.enabled", "true")
		}
		return "<Attributes>" + b.String() + "</Attributes>", nil
	}
	return "", sender("InvalidAction", "elbtest: ELBv2 action %q is not faked", action)
}

// Classic load balancer rules, from the Classic Load Balancers guide:
//   - Connection draining, https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/config-conn-drain.html:
//     a de-registering instance is reported "InService" with the
//     description "Instance deregistration currently in progress" while
//     it serves in-flight requests, and "OutOfService: Instance is not
//     currently registered with the LoadBalancer" once it has finished or
//     the timeout is reached. Without draining, deregistration is at once.
//   - Instances are registered whole, with no port
//     (API_Instance: InstanceId only); traffic reaches them on the
//     listeners' InstancePort (API_Listener).
func (s *Server) classicELB(action string, form url.Values) (string, *queryError) {
	c := s.classic[form.Get("LoadBalancerNames.member.1")]
	if action != "DescribeLoadBalancers" {
		c = s.classic[form.Get("LoadBalancerName")]
	}
	if c == nil {
		return "", sender("LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", form.Get("LoadBalancerName")+form.Get("LoadBalancerNames.member.1"))
	}
	for k := range form {
		if strings.HasPrefix(k, "Instances.member.") && !strings.HasSuffix(k, ".InstanceId") {
			return "", sender("ValidationError", "%s: a classic load balancer's Instance has only an InstanceId", k)
		}
	}
	var ids []string
	for _, m := range members(form, "Instances", "InstanceId") {
		if !strings.HasPrefix(m["InstanceId"], "i-") || s.terminated[m["InstanceId"]] {
			return "", sender("InvalidInstance", "The requested instance %s is not a valid EC2 instance", m["InstanceId"])
		}
		ids = append(ids, m["InstanceId"])
	}
	now := s.now
	// settle forgets instances whose connection draining has ended.
	for id, in := range c.instances {
		if !in.deregistered.IsZero() && !now.Before(in.drainEnds) {
			delete(c.instances, id)
		}
	}
	list := func() string {
		var b strings.Builder
		for _, id := range slices.Sorted(maps.Keys(c.instances)) {
			if c.instances[id].deregistered.IsZero() {
				fmt.Fprintf(&b, "<member><InstanceId>%s</InstanceId></member>", esc(id))
			}
		}
		return "<Instances>" + b.String() + "</Instances>"
	}
	switch action {
	case "DescribeLoadBalancers":
		var b strings.Builder
		for _, l := range c.Listeners {
			fmt.Fprintf(&b, "<member><Listener><Protocol>%s</Protocol><LoadBalancerPort>%d</LoadBalancerPort><InstanceProtocol>%s</InstanceProtocol><InstancePort>%d</InstancePort></Listener><PolicyNames/></member>",
				esc(l.Protocol), l.LoadBalancerPort, esc(l.Protocol), l.InstancePort)
		}
		return fmt.Sprintf("<LoadBalancerDescriptions><member><LoadBalancerName>%s</LoadBalancerName><Scheme>internet-facing</Scheme><ListenerDescriptions>%s</ListenerDescriptions>%s</member></LoadBalancerDescriptions>",
			esc(c.Name), b.String(), list()), nil
	case "RegisterInstancesWithLoadBalancer":
		if len(ids) == 0 {
			return "", sender("ValidationError", "Instances is required")
		}
		for _, id := range ids {
			if in := c.instances[id]; in == nil || !in.deregistered.IsZero() {
				c.instances[id] = &instance{registered: now}
			}
		}
		return list(), nil
	case "DeregisterInstancesFromLoadBalancer":
		for _, id := range ids {
			if in := c.instances[id]; in == nil || !in.deregistered.IsZero() {
				return "", sender("InvalidInstance", "The requested instance %s is not registered with load balancer %s", id, c.Name)
			}
		}
		for _, id := range ids {
			if c.DrainTimeout <= 0 {
				delete(c.instances, id)
				continue
			}
			c.instances[id].deregistered = now
			c.instances[id].drainEnds = now.Add(c.DrainTimeout)
		}
		return list(), nil
	case "DescribeInstanceHealth":
		if len(ids) == 0 {
			ids = slices.Sorted(maps.Keys(c.instances))
		}
		var b strings.Builder
		for _, id := range ids {
			state, reason, desc := "InService", "N/A", "N/A"
			switch in := c.instances[id]; {
			case in == nil:
				state, reason, desc = "OutOfService", "ELB", "Instance is not currently registered with the LoadBalancer."
			case !in.deregistered.IsZero():
				desc = "Instance deregistration currently in progress"
			}
			fmt.Fprintf(&b, "<member><InstanceId>%s</InstanceId><State>%s</State><ReasonCode>%s</ReasonCode><Description>%s</Description></member>", esc(id), state, reason, esc(desc))
		}
		return "<InstanceStates>" + b.String() + "</InstanceStates>", nil
	case "DescribeLoadBalancerAttributes":
		return fmt.Sprintf("<LoadBalancerAttributes><ConnectionDraining><Enabled>%t</Enabled><Timeout>%d</Timeout></ConnectionDraining><CrossZoneLoadBalancing><Enabled>true</Enabled></CrossZoneLoadBalancing><ConnectionSettings><IdleTimeout>60</IdleTimeout></ConnectionSettings></LoadBalancerAttributes>",
			c.DrainTimeout > 0, int(c.DrainTimeout/time.Second)), nil
	}
	return "", sender("InvalidAction", "elbtest: classic ELB action %q is not faked", action)
}
