package nbd

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// URI is where an export is, from an NBD URI (the NBD project's
// doc/uri.md): nbd://host[:port]/export over TCP, or
// nbd+unix:///export?socket=PATH over a Unix domain socket.
type URI struct {
	Network string // "tcp" or "unix", as net.Dial takes it
	Address string // host:port, or the socket's path ("@name": abstract)
	Export  string // the path less its leading "/", unescaped; may be empty
}

// IsURI reports that s is meant as an NBD URI rather than a file name:
// it starts with one of the schemes of doc/uri.md ("nbd", "nbds",
// "nbd+unix", "nbds+unix") or another "nbd+" or "nbds+" transport.
func IsURI(s string) bool {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return false
	}
	scheme = strings.ToLower(scheme)
	return scheme == "nbd" || scheme == "nbds" || strings.HasPrefix(scheme, "nbd+") || strings.HasPrefix(scheme, "nbds+")
}

// ParseURI parses an NBD URI. The TCP port defaults to 10809 (IANA's);
// the export name is the path less its leading "/" ("nbd://h//disk" is
// "/disk", "nbd://h" the empty name). Refused: the TLS schemes (nbds,
// nbds+unix: this client has no TLS, and those URIs require it), other
// transports (nbd+vsock), nbd+unix without socket= or with a host, and
// nbd:// without a host.
func ParseURI(s string) (*URI, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("nbd: %w", err)
	}
	export := strings.TrimPrefix(u.Path, "/")
	if len(export) > MaxExportName {
		return nil, fmt.Errorf("nbd: %s: export name longer than %d bytes", s, MaxExportName)
	}
	switch strings.ToLower(u.Scheme) {
	case "nbd":
		if u.Hostname() == "" {
			return nil, fmt.Errorf("nbd: %s: no host (nbd://HOST[:PORT]/EXPORT)", s)
		}
		port := u.Port()
		if port == "" {
			port = DefaultPort
		}
		return &URI{Network: "tcp", Address: net.JoinHostPort(u.Hostname(), port), Export: export}, nil
	case "nbd+unix":
		sock := u.Query().Get("socket")
		if sock == "" {
			return nil, fmt.Errorf("nbd: %s: no socket= parameter (nbd+unix:///EXPORT?socket=PATH)", s)
		}
		if u.Host != "" {
			return nil, fmt.Errorf("nbd: %s: a host in a Unix socket URI (nbd+unix:///EXPORT?socket=PATH)", s)
		}
		if sock[0] == 0 {
			sock = "@" + sock[1:] // an abstract socket, as Go's net names it
		}
		return &URI{Network: "unix", Address: sock, Export: export}, nil
	case "nbds", "nbds+unix":
		return nil, fmt.Errorf("nbd: %s: TLS (%s://) is not supported by this client; use nbd:// or nbd+unix:// with a server that allows plain connections", s, u.Scheme)
	}
	return nil, fmt.Errorf("nbd: %s: unknown NBD transport %q (known: nbd://, nbd+unix://)", s, u.Scheme)
}

// String is the URI in its usual form.
func (u *URI) String() string {
	p := "/" + url.PathEscape(u.Export)
	if u.Network == "unix" {
		return "nbd+unix://" + p + "?socket=" + url.QueryEscape(u.Address)
	}
	return "nbd://" + u.Address + p
}
