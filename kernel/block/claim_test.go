package block

import (
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestClaim walks bd_may_claim's rules: a holder may claim again; a held
// partition keeps its disk from others but not its sibling; a held disk
// keeps every partition; claims end with as many Unclaims as were made,
// and another holder's Unclaim changes nothing.
func TestClaim(t *testing.T) {
	vda := &Device{name: "vda"}
	vda1 := &Device{name: "vda1", parent: vda}
	vda2 := &Device{name: "vda2", parent: vda}
	a, b := new(int), new(int)
	busy := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, abi.EBUSY) {
			t.Errorf("%s: %v, want EBUSY", what, err)
		}
	}
	ok := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	ok("a claims vda1", vda1.Claim(a))
	ok("a claims vda1 again", vda1.Claim(a))
	busy("b claims vda1", vda1.Claim(b))
	busy("b claims vda", vda.Claim(b))
	busy("a claims vda", vda.Claim(a))
	ok("b claims vda2", vda2.Claim(b))
	vda1.Unclaim(b) // not b's: nothing
	busy("b claims vda1 after its stray unclaim", vda1.Claim(b))
	vda1.Unclaim(a)
	busy("b claims vda1 while a holds it once more", vda1.Claim(b))
	vda1.Unclaim(a)
	ok("b claims vda1 once a let go", vda1.Claim(b))
	vda1.Unclaim(b)
	vda2.Unclaim(b)
	ok("a claims vda with no partition held", vda.Claim(a))
	busy("b claims vda2 while vda is held", vda2.Claim(b))
	busy("a claims vda2 while it holds vda", vda2.Claim(a))
	vda.Unclaim(a)
	ok("b claims vda2 once vda is free", vda2.Claim(b))
	vda2.Unclaim(b)
	if vda.holder != nil || vda.parts != 0 || vda1.holder != nil || vda2.holder != nil {
		t.Errorf("claims left: vda %v/%d parts %d, vda1 %v, vda2 %v", vda.holder, vda.holders, vda.parts, vda1.holder, vda2.holder)
	}
}
