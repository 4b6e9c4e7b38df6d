package deploy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// debControl runs dpkg-deb with args on the package and returns its output.
func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// `go tool task deb` makes signet_VERSION_ARCH.deb holding the binary, the three systemd units and
// /etc/signet/signet.yaml as a conffile, with maintainer scripts that parse; dpkg unpacks it into an
// empty root and records the conffile (issue 21 must 6).
func TestDebianPackage(t *testing.T) {
	_, deb := buildPackage(t)
	info := dpkgDeb(t, "--info", deb)
	for _, want := range []string{"Package: signet\n", "Version: " + releaseVersion(t) + "\n", "Architecture: " + debArch(t) + "\n",
		"Depends: adduser, libc6 (>= "} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents := dpkgDeb(t, "--contents", deb)
	for path, mode := range map[string]string{
		"./usr/bin/signet": "-rwxr-xr-x", "./etc/signet/signet.yaml": "-rw-r-----",
		"./lib/systemd/system/signet-intake.service": "-rw-r--r--", "./lib/systemd/system/signet-worker.service": "-rw-r--r--",
		"./lib/systemd/system/signet-setup.service": "-rw-r--r--",
	} {
		var found bool
		for _, l := range strings.Split(contents, "\n") {
			f := strings.Fields(l)
			if len(f) == 6 && f[5] == path {
				found = true
				if f[0] != mode || f[1] != "root/root" {
					t.Errorf("%s: %s %s, want %s root/root", path, f[0], f[1], mode)
				}
			}
		}
		if !found {
			t.Errorf("the package lacks %s:\n%s", path, contents)
		}
	}

	// Control files: the conffile, and maintainer scripts sh can parse.
	ctl := t.TempDir()
	dpkgDeb(t, "--control", deb, ctl)
	if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(b) != "/etc/signet/signet.yaml\n" {
		t.Errorf("conffiles = %q, want /etc/signet/signet.yaml", b)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if out, err := exec.Command("sh", "-n", filepath.Join(ctl, s)).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", s, err, out)
		}
	}

	// The files are the ones in deploy/, and the binary is the stamped one.
	root := t.TempDir()
	dpkgDeb(t, "-x", deb, root)
	for in, src := range map[string]string{"etc/signet/signet.yaml": "systemd/signet.yaml",
		"lib/systemd/system/signet-intake.service": "systemd/signet-intake.service",
		"lib/systemd/system/signet-worker.service": "systemd/signet-worker.service",
		"lib/systemd/system/signet-setup.service":  "systemd/signet-setup.service"} {
		a, _ := os.ReadFile(filepath.Join(root, in))
		b, _ := os.ReadFile(src)
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("the package's /%s is not deploy/%s", in, src)
		}
	}
	if out, err := exec.Command(filepath.Join(root, "usr/bin/signet"), "version").Output(); err != nil || !strings.HasPrefix(string(out), "signet v"+releaseVersion(t)+",") {
		t.Errorf("the packaged signet says %q (%v), want version v%s", out, err, releaseVersion(t))
	}

	// systemd reads the packaged units cleanly against the packaged binary: no unknown or misspelt
	// setting (systemd ignores those with a warning, and a misspelt sandbox setting is a hole), an
	// ExecStart that exists. The host's targets stand in for the rest of a system.
	targets, _ := filepath.Glob("/lib/systemd/system/*.target")
	for _, tg := range targets {
		if _, err := os.Stat(filepath.Join(root, "lib/systemd/system", filepath.Base(tg))); err != nil {
			copyFile(t, tg, filepath.Join(root, "lib/systemd/system", filepath.Base(tg)))
		}
	}
	for _, u := range []string{"signet-intake.service", "signet-worker.service", "signet-setup.service"} {
		out, err := exec.Command("systemd-analyze", "verify", "--root="+root, "/lib/systemd/system/"+u).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
		}
	}

	// dpkg itself unpacks it into an empty root and registers the conffile.
	scratch := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
		os.MkdirAll(filepath.Join(scratch, d), 0o755)
	}
	os.WriteFile(filepath.Join(scratch, "var/lib/dpkg/status"), nil, 0o644)
	if out, err := exec.Command("dpkg", "--root="+scratch, "--force-depends", "--force-not-root", "--unpack", deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg --unpack into a scratch root: %v\n%s", err, out)
	}
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(scratch, "var/lib/dpkg"), "-W", "-f=${Status} ${Conffiles}", "signet").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "install ok unpacked") || !strings.Contains(string(out), "/etc/signet/signet.yaml") {
		t.Errorf("dpkg-query on the scratch root: %q %v", out, err)
	}
}

// debRootCache is a Debian root made once by debootstrap (bookworm minbase with systemd, dbus, adduser
// and softhsm2) and kept as a tarball, so that each run installs the package into a fresh copy in
// seconds.
func debRootCache(t *testing.T) string {
	t.Helper()
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = "/var/cache" // no HOME (a bare CI environment): root's cache is as good
	}
	const include = "systemd,systemd-sysv,dbus,adduser,softhsm2"
	tarball := filepath.Join(dir, "signet-test", "bookworm-minbase-"+strings.ReplaceAll(include, ",", "-")+".tar")
	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Fatal("debootstrap is missing: run sh deploy/dev/packages.sh test")
	}
	mirror := os.Getenv("SIGNET_DEBIAN_MIRROR")
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	build := filepath.Join(t.TempDir(), "root")
	t.Logf("making a Debian root with debootstrap (once, about two minutes; kept in %s)", tarball)
	if out, err := exec.Command("debootstrap", "--variant=minbase", "--include="+include, "bookworm", build, mirror).CombinedOutput(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, out)
	}
	// systemd in a container wants a machine id.
	if out, err := exec.Command("systemd-machine-id-setup", "--root="+build).CombinedOutput(); err != nil {
		t.Fatalf("systemd-machine-id-setup: %v\n%s", err, out)
	}
	os.MkdirAll(filepath.Dir(tarball), 0o755)
	if out, err := exec.Command("tar", "-C", build, "-cf", tarball+".tmp", ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := os.Rename(tarball+".tmp", tarball); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// The package installs with dpkg into a clean Debian root (no container: a chroot, then the same root
// booted with systemd-nspawn): postinst makes the system user signet (in group softhsm),
// /var/lib/signet owned by it and /etc/signet readable by it only; under the root's own systemd the
// intake and worker units, sandbox and all, run Signet (`signet serve` through a drop-in, since there
// is no NATS cluster here) until /healthz answers and the worker's SoftHSM token is online; the
// processes run with no capability, no_new_privs and a seccomp filter. Removal keeps the conffile.
// Needs root (chroot, nspawn), as CI has.
func TestDebianPackageInstallsAndRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test installs into a chroot and boots it with systemd-nspawn: it needs root")
	}
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		t.Fatal("systemd-nspawn is missing: run sh deploy/dev/packages.sh test (systemd-container)")
	}
	_, deb := buildPackage(t)
	tarball := debRootCache(t)
	root := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(root, 0o755)
	if out, err := exec.Command("tar", "-C", root, "-xf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	copyFile(t, deb, filepath.Join(root, "tmp", "signet.deb"))
	chroot := func(args ...string) (string, error) {
		out, err := exec.Command("chroot", append([]string{root}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := chroot("dpkg", "-i", "/tmp/signet.deb"); err != nil {
		t.Fatalf("dpkg -i in the chroot: %v\n%s", err, out)
	}
	for cmd, want := range map[string]string{
		"dpkg-query -W -f=${Status} signet":                         "install ok installed",
		"getent passwd signet":                                      ":/var/lib/signet:/usr/sbin/nologin",
		"id -nG signet":                                             "softhsm",
		"stat -c %U:%G:%a /var/lib/signet":                          "signet:signet:750",
		"stat -c %U:%G:%a /etc/signet":                              "root:signet:750",
		"stat -c %U:%G:%a /etc/signet/signet.yaml":                  "root:signet:640",
		"chroot --userspec=signet:signet / /usr/bin/signet version": "signet v" + releaseVersion(t),
		"systemctl is-enabled signet-intake.service":                "disabled",
	} {
		out, _ := chroot(strings.Fields(cmd)...)
		if !strings.Contains(out, want) {
			t.Errorf("%s: %q, want %q", cmd, strings.TrimSpace(out), want)
		}
	}

	runUnitsUnderSystemd(t, root)

	if out, err := chroot("dpkg", "-r", "signet"); err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/signet")); err == nil {
		t.Error("dpkg -r left /usr/bin/signet")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/signet/signet.yaml")); err != nil {
		t.Error("dpkg -r removed the conffile /etc/signet/signet.yaml (only purge may)")
	}
}

// runUnitsUnderSystemd enables the packaged intake and worker units with a drop-in each that runs
// `signet serve` on a free port (the units' own settings and sandbox unchanged), boots root with
// systemd-nspawn (the host's network, so the test reaches the ports) and waits for both to be ready.
func runUnitsUnderSystemd(t *testing.T, root string) {
	t.Helper()
	addrs := map[string]string{}
	for _, unit := range []string{"signet-intake.service", "signet-worker.service"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[unit] = l.Addr().String()
		l.Close()
		role := strings.TrimSuffix(strings.TrimPrefix(unit, "signet-"), ".service")
		// Each its own data directory under the state directory, so the two embedded NATS servers
		// and demo tokens do not meet.
		dropIn := fmt.Sprintf("[Service]\nEnvironment=SIGNET_CONFIG= SIGNET_NATS_USER= SIGNET_NATS_PASSWORD_FILE=\nExecStart=\n"+
			"ExecStart=/usr/bin/signet serve --listen %s --data-dir /var/lib/signet/%s --metrics-listen off\n", addrs[unit], role)
		copyText(t, filepath.Join(root, "etc/systemd/system", unit+".d", "test.conf"), dropIn)
		if err := os.Symlink("/lib/systemd/system/"+unit, filepath.Join(root, "etc/systemd/system/multi-user.target.wants", unit)); err != nil {
			t.Fatal(err)
		}
	}
	// --keep-unit and --register=no: no systemd runs on the host to make a scope or register with.
	boot := exec.Command("systemd-nspawn", "--quiet", "--directory="+root, "--boot", "--register=no", "--keep-unit")
	var console bytes.Buffer
	boot.Stdout, boot.Stderr = &console, &console
	if err := boot.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { boot.Wait(); close(exited) }()
	defer func() {
		boot.Process.Signal(os.Interrupt) // nspawn powers the container off
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			boot.Process.Kill()
			<-exited
		}
	}()
	for unit, addr := range addrs {
		body, ok := waitReady(addr, exited)
		if !ok {
			t.Fatalf("%s under systemd did not get ready on %s (%s); the container's console:\n%s", unit, addr, body, console.String())
		}
		if unit == "signet-worker.service" && !strings.Contains(body, "tokens online: 1 of 1") {
			t.Errorf("%s: /readyz says %q, want the SoftHSM demo token online", unit, body)
		}
		// The unit's sandbox is on the process: no capability, no_new_privs, a seccomp filter.
		out, err := exec.Command("pgrep", "-f", "^/usr/bin/signet serve --listen "+addr).Output()
		if err != nil {
			t.Fatalf("%s: no signet process found: %v", unit, err)
		}
		status, err := os.ReadFile("/proc/" + strings.Fields(string(out))[0] + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
			if !strings.Contains(string(status), want+"\n") {
				t.Errorf("%s: the process's status lacks %q:\n%s", unit, want, status)
			}
		}
	}
}

// waitReady polls http://addr/readyz for a minute, until it answers 200 or the container stops.
func waitReady(addr string, stopped <-chan struct{}) (string, bool) {
	last := "no answer"
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		select {
		case <-stopped:
			return "the container stopped", false
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		if resp.StatusCode == http.StatusOK {
			return string(b), true
		}
	}
	return last, false
}

func copyText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
