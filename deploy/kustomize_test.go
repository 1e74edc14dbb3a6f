package deploy

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) we write; decoding is strict, so a field
// outside it is a typo or needs adding here.
type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		JobLabel  string `json:"jobLabel,omitempty"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// manifests is the output of a kustomize build, decoded.
type manifests struct {
	serviceAccounts []corev1.ServiceAccount
	configMaps      []corev1.ConfigMap
	services        []corev1.Service
	deployments     []appsv1.Deployment
	pdbs            []policyv1.PodDisruptionBudget
	netpols         []networkingv1.NetworkPolicy
	monitors        []serviceMonitor
}

// build runs kustomize on dir, as `kubectl apply -k` would, and decodes
// every object strictly into its type: an unknown or misplaced field fails.
func build(t *testing.T, dir string) *manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s/%s: %v", dir, r.GetKind(), r.GetName(), err)
		}
		where := fmt.Sprintf("%s: %s %s/%s", dir, r.GetApiVersion(), r.GetKind(), r.GetName())
		decode := func(into any) {
			if err := yaml.UnmarshalStrict(y, into); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
		switch gk := r.GetApiVersion() + " " + r.GetKind(); gk {
		case "v1 ServiceAccount":
			var o corev1.ServiceAccount
			decode(&o)
			m.serviceAccounts = append(m.serviceAccounts, o)
		case "v1 ConfigMap":
			var o corev1.ConfigMap
			decode(&o)
			m.configMaps = append(m.configMaps, o)
		case "v1 Service":
			var o corev1.Service
			decode(&o)
			m.services = append(m.services, o)
		case "apps/v1 Deployment":
			var o appsv1.Deployment
			decode(&o)
			m.deployments = append(m.deployments, o)
		case "policy/v1 PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			decode(&o)
			m.pdbs = append(m.pdbs, o)
		case "networking.k8s.io/v1 NetworkPolicy":
			var o networkingv1.NetworkPolicy
			decode(&o)
			m.netpols = append(m.netpols, o)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			var o serviceMonitor
			decode(&o)
			m.monitors = append(m.monitors, o)
		default:
			t.Errorf("%s: unexpected kind %s", where, gk)
		}
	}
	for _, c := range []struct {
		kind string
		n    int
	}{
		{"ServiceAccount", len(m.serviceAccounts)}, {"ConfigMap", len(m.configMaps)},
		{"Service", len(m.services)}, {"Deployment", len(m.deployments)},
		{"PodDisruptionBudget", len(m.pdbs)}, {"NetworkPolicy", len(m.netpols)},
		{"ServiceMonitor", len(m.monitors)},
	} {
		if c.n != 1 {
			t.Fatalf("%s: %d %s, want 1", dir, c.n, c.kind)
		}
	}
	return m
}

func TestKustomizeBase(t *testing.T) {
	checkManifests(t, "k8s/base", build(t, "k8s/base"), 2)
}

func TestKustomizeOverlayExample(t *testing.T) {
	m := build(t, "k8s/overlays/example")
	checkManifests(t, "k8s/overlays/example", m, 3)
	d := m.deployments[0]
	if d.Namespace == "" {
		t.Errorf("overlay: Deployment has no namespace")
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":1.0.0") {
		t.Errorf("overlay: image %s, want the pinned tag 1.0.0", img)
	}
}

// checkManifests checks the properties that matter, and that the objects
// and the configuration file they carry agree with each other.
func checkManifests(t *testing.T, dir string, m *manifests, wantReplicas int32) {
	d := m.deployments[0]
	errorf := func(format string, args ...any) { t.Errorf(dir+": "+format, args...) }

	// Replicas: two or more, relying on the leases in the bucket.
	if r := d.Spec.Replicas; r == nil || *r < 2 || *r != wantReplicas {
		got := "unset"
		if r != nil {
			got = fmt.Sprint(*r)
		}
		errorf("Deployment replicas %s, want %d (at least 2)", got, wantReplicas)
	}
	podLabels := k8slabels.Set(d.Spec.Template.Labels)
	selects := func(what string, sel *metav1.LabelSelector) {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(podLabels) {
			errorf("%s selector %v does not select the pods %v (%v)", what, sel, podLabels, err)
		}
	}
	selects("Deployment", d.Spec.Selector)

	ps := d.Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", dir, len(ps.Containers))
	}
	c := ps.Containers[0]

	// Security: non-root, read-only root, nothing to escalate to.
	sc, psc := c.SecurityContext, ps.SecurityContext
	if !(psc != nil && isTrue(psc.RunAsNonRoot)) && !(sc != nil && isTrue(sc.RunAsNonRoot)) {
		errorf("runAsNonRoot is not set")
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		errorf("pod runAsUser is not 65532, the image's USER")
	}
	if sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) {
		errorf("readOnlyRootFilesystem is not set")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		errorf("allowPrivilegeEscalation is not false")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		errorf("capabilities are not all dropped")
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		errorf("the service-account token is mounted; recevable does not use the Kubernetes API")
	}

	// Resources: requests and limits of CPU and memory, requests below limits.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okR := c.Resources.Requests[r]
		lim, okL := c.Resources.Limits[r]
		if !okR || !okL {
			errorf("resources: %s request or limit missing", r)
		} else if req.Cmp(lim) > 0 {
			errorf("resources: %s request %s above limit %s", r, req.String(), lim.String())
		}
	}

	// Ports and probes: /healthz and /readyz on the metrics port.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["web"] == 0 || ports["metrics"] == 0 {
		errorf("container ports %v, want web and metrics", ports)
	}
	probe := func(what string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			errorf("no %s HTTP probe", what)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "metrics" {
			errorf("%s probe on %s port %s, want %s on metrics", what, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")

	// Volumes: the configuration from the generated ConfigMap, the Secret,
	// a writable /tmp.
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	vols := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		vols[v.Name] = v
	}
	if tmp, ok := mounts["/tmp"]; !ok || vols[tmp.Name].EmptyDir == nil {
		errorf("/tmp is not an emptyDir: the root file system is read-only and the spool needs it")
	}
	configArg := ""
	for i, a := range c.Args {
		if a == "-config" && i+1 < len(c.Args) {
			configArg = c.Args[i+1]
		}
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" || configArg == "" {
		t.Fatalf("%s: args %v, want serve -config FILE", dir, c.Args)
	}
	cm := m.configMaps[0]
	cmMount, ok := mounts[path.Dir(configArg)]
	if !ok || vols[cmMount.Name].ConfigMap == nil || vols[cmMount.Name].ConfigMap.Name != cm.Name {
		t.Fatalf("%s: %s is not mounted from the ConfigMap %s", dir, configArg, cm.Name)
	}
	data, ok := cm.Data[path.Base(configArg)]
	if !ok || strings.TrimSpace(data) == "" {
		t.Fatalf("%s: ConfigMap %s has no %s", dir, cm.Name, path.Base(configArg))
	}
	cfg, refs := parseConfigFile(t, dir+" "+cm.Name, []byte(data))
	var secretMount string
	for p, vm := range mounts {
		if v := vols[vm.Name]; v.Secret != nil {
			secretMount = p
			if v.Secret.SecretName == "" {
				errorf("secret volume %s names no Secret", vm.Name)
			}
		}
	}
	for _, r := range refs {
		if r.kind == "file" && (secretMount == "" || !strings.HasPrefix(r.ref, secretMount+"/")) {
			errorf("configuration reads secret %s, outside the Secret's mount %q", r.ref, secretMount)
		}
	}

	// The configuration agrees: listens on every interface on the declared
	// ports, shares one bucket, has no folder drop (no shared disk), and
	// shuts down before Kubernetes kills the pod.
	for _, l := range []struct{ field, addr, port string }{
		{"web.listen", cfg.Web.Listen, "web"}, {"metrics.listen", cfg.Metrics.Listen, "metrics"},
	} {
		if !strings.HasPrefix(l.addr, "0.0.0.0:") && !strings.HasPrefix(l.addr, ":") {
			errorf("%s %q: in a pod it must listen on every interface", l.field, l.addr)
		}
		if port(t, l.addr) != fmt.Sprint(ports[l.port]) {
			errorf("%s %q: the container port %s is %d", l.field, l.addr, l.port, ports[l.port])
		}
	}
	if cfg.Storage.Backend != "s3" {
		errorf("storage.backend %q: replicas share nothing but an S3 bucket", cfg.Storage.Backend)
	}
	for _, dr := range cfg.Drops {
		if dr.Kind != "s3" {
			errorf("drop of kind %q: pods have no shared folder", dr.Kind)
		}
	}
	if st, err := time.ParseDuration(cfg.Workers.ShutdownTimeout); err != nil {
		errorf("workers.shutdown_timeout %q: %v", cfg.Workers.ShutdownTimeout, err)
	} else if g := ps.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= st {
		errorf("terminationGracePeriodSeconds (unset: 30) does not exceed workers.shutdown_timeout %v", st)
	}

	// Service: selects the pods, exposes both named ports.
	svc := m.services[0]
	selects("Service", &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
	svcPorts := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = true
		if _, ok := ports[p.TargetPort.String()]; !ok {
			errorf("Service port %s targets %s, no port of the container", p.Name, p.TargetPort.String())
		}
	}

	// PodDisruptionBudget: one replica always left.
	pdb := m.pdbs[0]
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.String() != "1" {
		errorf("PodDisruptionBudget minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	selects("PodDisruptionBudget", pdb.Spec.Selector)

	// NetworkPolicy: both directions, the two ports open to ingress, DNS
	// open to egress.
	np := m.netpols[0]
	selects("NetworkPolicy", &np.Spec.PodSelector)
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		errorf("NetworkPolicy policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	in := map[string]bool{}
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			in[p.Port.String()] = true
		}
	}
	if !in["web"] || !in["metrics"] {
		errorf("NetworkPolicy ingress ports %s, want web and metrics", sprintList(in))
	}
	out := map[string]bool{}
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			out[p.Port.String()] = true
		}
	}
	if !out["53"] {
		errorf("NetworkPolicy egress has no DNS (53): %s", sprintList(out))
	}
	for _, a := range cfg.IMAP.Accounts {
		p := a.Port
		if p == 0 {
			p = 993
			if a.TLS != "tls" {
				p = 143
			}
		}
		if !out[fmt.Sprint(p)] {
			errorf("NetworkPolicy egress does not allow IMAP port %d of %s", p, a.Host)
		}
	}

	// ServiceMonitor: selects the Service, scrapes its metrics port.
	sm := m.monitors[0]
	if sm.Spec.Selector.MatchLabels == nil {
		errorf("ServiceMonitor selects nothing")
	} else if s, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector); err != nil || !s.Matches(k8slabels.Set(svc.Labels)) {
		errorf("ServiceMonitor selector %v does not select the Service labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) == 0 {
		errorf("ServiceMonitor has no endpoint")
	}
	for _, e := range sm.Spec.Endpoints {
		if !svcPorts[e.Port] || e.Port != "metrics" || (e.Path != "" && e.Path != "/metrics") {
			errorf("ServiceMonitor scrapes port %q path %q, want the Service's metrics port, /metrics", e.Port, e.Path)
		}
	}

	// ServiceAccount: the one the pods use.
	if sa := m.serviceAccounts[0]; ps.ServiceAccountName != sa.Name {
		errorf("pods use service account %q, the manifests define %q", ps.ServiceAccountName, sa.Name)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }
