package elbtest

import (
	"bytes"
	"encoding/xml"
	"fmt"
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

	targets map[string]*target
}

type target struct {
	id           string
	port         int
	az           string
	registered   time.Time
	deregistered time.Time
}

// ClassicLB is a fake classic load balancer.
type ClassicLB struct {
	// Name names it.
	Name string
	// DrainTimeout is the connection draining timeout; 0 disables draining.
	DrainTimeout time.Duration

	instances map[string]time.Time
}

// AddTargetGroup creates a target group.
func (s *Server) AddTargetGroup(tg TargetGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg.targets = map[string]*target{}
	s.groups[tg.ARN] = &tg
}

// AddClassic creates a classic load balancer.
func (s *Server) AddClassic(c ClassicLB) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.instances = map[string]time.Time{}
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

// Instances lists a classic load balancer's registered instances, sorted.
func (s *Server) Instances(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if c := s.classic[name]; c != nil {
		for id := range c.instances {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func targetKey(id string, port int) string { return id + ":" + strconv.Itoa(port) }

// state is the target's ELB state at now, with the reason code. A target
// that finished draining is forgotten.
func (tg *TargetGroup) state(t *target, now time.Time) (string, string) {
	switch {
	case !t.deregistered.IsZero() && (tg.StuckDraining || now.Before(t.deregistered.Add(tg.DeregistrationDelay))):
		return "draining", "Target.DeregistrationInProgress"
	case !t.deregistered.IsZero():
		delete(tg.targets, targetKey(t.id, t.port))
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
	b.WriteString("</Message></Error><RequestId>c0ffee00-0000-4000-8000-000000000000</RequestId></ErrorResponse>")
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
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>c0ffee00-0000-4000-8000-000000000001</RequestId></ResponseMetadata></%sResponse>`,
		action, ns, action, result, action, action)
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
	switch action {
	case "RegisterTargets":
		ts, qerr := tg.parseTargets(form)
		if qerr != nil {
			return "", qerr
		}
		if len(ts) == 0 {
			return "", sender("ValidationError", "Targets is required")
		}
		for _, a := range ts {
			k := targetKey(a.id, a.port)
			if t := tg.targets[k]; t != nil && t.deregistered.IsZero() {
				continue // registering a registered target changes nothing
			}
			tg.targets[k] = &target{id: a.id, port: a.port, az: a.az, registered: s.now}
		}
		return "", nil
	case "DeregisterTargets":
		ts, qerr := tg.parseTargets(form)
		if qerr != nil {
			return "", qerr
		}
		for _, a := range ts {
			t := tg.targets[targetKey(a.id, a.port)]
			if t != nil {
				tg.state(t, s.now) // forget it if its drain finished
			}
			if tg.targets[targetKey(a.id, a.port)] == nil {
				return "", sender("InvalidTarget", "The following targets are not registered in target group '%s': '%s'", tg.ARN, targetKey(a.id, a.port))
			}
		}
		for _, a := range ts {
			if t := tg.targets[targetKey(a.id, a.port)]; t.deregistered.IsZero() {
				t.deregistered = s.now
			}
		}
		return "", nil
	case "DescribeTargetHealth":
		ts, qerr := tg.parseTargets(form)
		if qerr != nil {
			return "", qerr
		}
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
		return fmt.Sprintf("<Attributes><member><Key>deregistration_delay.timeout_seconds</Key><Value>%d</Value></member><member><Key>stickiness.enabled</Key><Value>false</Value></member></Attributes>",
			int(tg.DeregistrationDelay/time.Second)), nil
	}
	return "", sender("InvalidAction", "elbtest: ELBv2 action %q is not faked", action)
}

func (s *Server) classicELB(action string, form url.Values) (string, *queryError) {
	c := s.classic[form.Get("LoadBalancerName")]
	if c == nil {
		return "", sender("LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", form.Get("LoadBalancerName"))
	}
	var ids []string
	for _, m := range members(form, "Instances", "InstanceId") {
		if !strings.HasPrefix(m["InstanceId"], "i-") {
			return "", sender("InvalidInstance", "Invalid id: %q", m["InstanceId"])
		}
		ids = append(ids, m["InstanceId"])
	}
	list := func() string {
		all := make([]string, 0, len(c.instances))
		for id := range c.instances {
			all = append(all, id)
		}
		slices.Sort(all)
		var b strings.Builder
		for _, id := range all {
			fmt.Fprintf(&b, "<member><InstanceId>%s</InstanceId></member>", esc(id))
		}
		return "<Instances>" + b.String() + "</Instances>"
	}
	switch action {
	case "RegisterInstancesWithLoadBalancer":
		if len(ids) == 0 {
			return "", sender("ValidationError", "Instances is required")
		}
		for _, id := range ids {
			if _, ok := c.instances[id]; !ok {
				c.instances[id] = s.now
			}
		}
		return list(), nil
	case "DeregisterInstancesFromLoadBalancer":
		for _, id := range ids {
			if _, ok := c.instances[id]; !ok {
				return "", sender("InvalidInstance", "The requested instance %s is not registered with load balancer %s", id, c.Name)
			}
		}
		for _, id := range ids {
			delete(c.instances, id)
		}
		return list(), nil
	case "DescribeInstanceHealth":
		if len(ids) == 0 {
			for id := range c.instances {
				ids = append(ids, id)
			}
			slices.Sort(ids)
		}
		var b strings.Builder
		for _, id := range ids {
			if _, ok := c.instances[id]; !ok {
				return "", sender("InvalidInstance", "Could not find EC2 instance %s.", id)
			}
			fmt.Fprintf(&b, "<member><InstanceId>%s</InstanceId><State>InService</State><ReasonCode>N/A</ReasonCode><Description>N/A</Description></member>", esc(id))
		}
		return "<InstanceStates>" + b.String() + "</InstanceStates>", nil
	case "DescribeLoadBalancerAttributes":
		return fmt.Sprintf("<LoadBalancerAttributes><ConnectionDraining><Enabled>%t</Enabled><Timeout>%d</Timeout></ConnectionDraining><CrossZoneLoadBalancing><Enabled>true</Enabled></CrossZoneLoadBalancing><ConnectionSettings><IdleTimeout>60</IdleTimeout></ConnectionSettings></LoadBalancerAttributes>",
			c.DrainTimeout > 0, int(c.DrainTimeout/time.Second)), nil
	}
	return "", sender("InvalidAction", "elbtest: classic ELB action %q is not faked", action)
}
