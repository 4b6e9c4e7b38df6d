package deploy

import (
	"bytes"
	"fmt"
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

// debRootCache is a Debian root made once by debootstrap (minbase with adduser and softhsm2) and
// kept as a tarball, so that each run installs the package into a fresh copy in seconds.
func debRootCache(t *testing.T) string {
	t.Helper()
	dir, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(dir, "signet-test", "bookworm-minbase-softhsm2.tar.gz")
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
	t.Logf("making a Debian root with debootstrap (once; kept in %s)", tarball)
	if out, err := exec.Command("debootstrap", "--variant=minbase", "--include=adduser,softhsm2", "bookworm", build, mirror).CombinedOutput(); err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, out)
	}
	os.MkdirAll(filepath.Dir(tarball), 0o755)
	if out, err := exec.Command("tar", "-C", build, "-czf", tarball+".tmp", ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := os.Rename(tarball+".tmp", tarball); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// The package installs with dpkg into a clean Debian root (a chroot, no container): postinst makes
// the system user signet (in group softhsm), /var/lib/signet owned by it and /etc/signet readable by
// it only; then signet, started as that user, serves /healthz from its state directory. Removal keeps
// the conffile. Needs root (chroot).
func TestDebianPackageInstallsInAChroot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test installs into a chroot and needs root, as CI has")
	}
	_, deb := buildPackage(t)
	tarball := debRootCache(t)
	root := filepath.Join(t.TempDir(), "root")
	os.MkdirAll(root, 0o755)
	if out, err := exec.Command("tar", "-C", root, "-xzf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := exec.Command("cp", deb, filepath.Join(root, "tmp", "signet.deb")).Run(); err != nil {
		t.Fatal(err)
	}
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
	} {
		out, err := chroot(strings.Fields(cmd)...)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("%s: %q (%v), want %q", cmd, strings.TrimSpace(out), err, want)
		}
	}

	// Started as signet with the embedded defaults (its own NATS, local storage, the SoftHSM demo
	// token) it writes only its state directory and answers /healthz.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	serve := exec.Command("chroot", "--userspec=signet:signet", root, "/usr/bin/signet", "serve", "--config", "",
		"--listen", addr, "--data-dir", "/var/lib/signet", "--metrics-listen", "off")
	var log bytes.Buffer
	serve.Stdout, serve.Stderr = &log, &log
	serve.Env = []string{"HOME=/var/lib/signet", "PATH=/usr/bin:/bin"}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Wait()
	defer serve.Process.Kill()
	var healthy bool
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !healthy; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get(fmt.Sprintf("http://%s/healthz", addr))
		if err == nil {
			healthy = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
		if serve.ProcessState != nil {
			break
		}
	}
	if !healthy {
		serve.Process.Kill()
		serve.Wait()
		t.Fatalf("signet serve, installed from the package, did not answer /healthz:\n%s", log.String())
	}
	serve.Process.Kill()

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
