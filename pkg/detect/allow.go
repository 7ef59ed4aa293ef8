package detect

import (
	"net/netip"
	"path"
	"strings"
)

// allowList drops findings about allowed principals, namespaces, images and networks.
type allowList struct {
	users, groups, namespaces, images []string
	networks                          []netip.Prefix
}

func newAllowList(c Config) *allowList {
	a := &allowList{users: c.AllowUsers, groups: c.AllowGroups, namespaces: c.AllowNamespaces, images: c.AllowImages}
	for _, n := range c.AllowNetworks {
		if p, err := netip.ParsePrefix(strings.TrimSpace(n)); err == nil {
			a.networks = append(a.networks, p.Masked())
		} else if ip, err := netip.ParseAddr(strings.TrimSpace(n)); err == nil {
			a.networks = append(a.networks, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return a
}

func globAny(patterns []string, v string) bool {
	for _, p := range patterns {
		if p == v {
			return true
		}
		if strings.Contains(p, "*") {
			if ok, _ := path.Match(p, v); ok || wildcard(p, v) {
				return true
			}
		}
	}
	return false
}

// wildcard matches `*` across any characters (path.Match stops at '/').
func wildcard(p, v string) bool {
	parts := strings.Split(p, "*")
	if !strings.HasPrefix(v, parts[0]) {
		return false
	}
	v = v[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(v, part)
		if i < 0 {
			return false
		}
		v = v[i+len(part):]
	}
	return strings.HasSuffix(v, parts[len(parts)-1])
}

func (a *allowList) allows(f Finding) bool {
	if globAny(a.users, f.User) || (f.Namespace != "" && globAny(a.namespaces, f.Namespace)) {
		return true
	}
	if len(a.networks) > 0 && f.SourceIP != "" {
		if ip, err := netip.ParseAddr(f.SourceIP); err == nil {
			for _, n := range a.networks {
				if n.Contains(ip.Unmap()) {
					return true
				}
			}
		}
	}
	return false
}

// drops reports whether any allow-list matches the finding.
func (a *allowList) drops(f Finding) bool {
	if a.allows(f) || a.allowsGroups(f.groups) {
		return true
	}
	for _, img := range f.Images {
		if a.allowsImage(img) {
			return true
		}
	}
	return false
}

// allowsGroups and allowsImage are checked by the rules that know the groups and images.
func (a *allowList) allowsGroups(groups []string) bool {
	for _, g := range groups {
		if globAny(a.groups, g) {
			return true
		}
	}
	return false
}

func (a *allowList) allowsImage(image string) bool { return globAny(a.images, image) }
