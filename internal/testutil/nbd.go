package testutil

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// NBDServer is an NBD server a test started: qemu-nbd or nbdkit, on a
// Unix socket or a local TCP port. It is killed when the test ends.
type NBDServer struct {
	URI string // nbd+unix:///EXPORT?socket=PATH or nbd://127.0.0.1:PORT/EXPORT
	cmd *exec.Cmd
	out *syncBuffer
}

// QemuNBD serves with qemu-nbd the export called export, with args (-f
// qcow2, -r, the image) after the listening options: on a Unix socket,
// or on a local TCP port when tcp. It is persistent (-t) and takes up
// to 8 clients at once (-e 8), so that an oracle (qemu-img) can connect
// beside the client under test.
func QemuNBD(t testing.TB, tcp bool, export string, args ...string) *NBDServer {
	t.Helper()
	Need(t, "qemu-nbd")
	listen, uri := nbdListen(t, tcp, export, "-k", "-b", "-p")
	return startNBD(t, "qemu-nbd", append(append([]string{"-t", "-e", "8", "-x", export}, listen...), args...), uri)
}

// Nbdkit serves with nbdkit (in the foreground, -f) args (options,
// filters, the plugin and its parameters) on a Unix socket, or a local
// TCP port when tcp. Its only export answers to any name; the URI names
// none.
func Nbdkit(t testing.TB, tcp bool, args ...string) *NBDServer {
	t.Helper()
	Need(t, "nbdkit")
	listen, uri := nbdListen(t, tcp, "", "-U", "-i", "-p")
	return startNBD(t, "nbdkit", append(append([]string{"-f"}, listen...), args...), uri)
}

// nbdListen returns the options that make a server listen on a new Unix
// socket (sockFlag PATH) or a free local port (addrFlag 127.0.0.1
// portFlag PORT), and the URI of export there.
func nbdListen(t testing.TB, tcp bool, export, sockFlag, addrFlag, portFlag string) ([]string, string) {
	t.Helper()
	if tcp {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return []string{addrFlag, "127.0.0.1", portFlag, strconv.Itoa(port)},
			fmt.Sprintf("nbd://127.0.0.1:%d/%s", port, url.PathEscape(export))
	}
	// A short directory of its own: a socket's path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "nbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "sock")
	return []string{sockFlag, sock}, "nbd+unix:///" + url.PathEscape(export) + "?socket=" + url.QueryEscape(sock)
}

// startNBD starts a server and waits until it accepts connections.
func startNBD(t testing.TB, name string, args []string, uri string) *NBDServer {
	t.Helper()
	s := &NBDServer{URI: uri, cmd: exec.Command(name, args...), out: &syncBuffer{}}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-exited })
	u, _ := url.Parse(uri)
	network, addr := "tcp", u.Host
	if u.Scheme == "nbd+unix" {
		network, addr = "unix", u.Query().Get("socket")
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		select {
		case <-exited:
			t.Fatalf("%s %v exited: %s", name, args, s.out)
		default:
		}
		// A Unix socket's file is there from bind(2), before listen(2):
		// only a connection tells. qemu-nbd (-t) and nbdkit take one
		// that closes before the handshake.
		if c, err := net.Dial(network, addr); err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %v does not listen: %s", name, args, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the server at once, as a crash would.
func (s *NBDServer) Kill() { s.cmd.Process.Kill() }

// Output is what the server printed.
func (s *NBDServer) Output() string { return s.out.String() }

// syncBuffer is a bytes.Buffer written by a process's two streams.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
