// Opens the gateway's cosigned checkpoint with golang.org/x/mod/sumdb/note and follows
// its tiles with golang.org/x/mod/sumdb/tlog: third-party code checks what satugate and
// its witness serve.
//
// Usage: interop <gateway base URL> <log verifier key> <witness verifier key>...
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// cosigner verifies C2SP tlog-cosignature (cosignature/v1) lines, which the note
// package leaves to the caller: the signed message prefixes the note text.
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (c *cosigner) Name() string    { return c.name }
func (c *cosigner) KeyHash() uint32 { return c.hash }
func (c *cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(c.key, signed, sig[8:])
}

func newCosigner(vkey string) (*cosigner, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed witness key")
	}
	id, err := hex.DecodeString(parts[1])
	if err != nil || len(id) != 4 {
		return nil, fmt.Errorf("malformed witness key id")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return nil, fmt.Errorf("not a cosignature/v1 key")
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	if !bytes.Equal(h[:4], id) {
		return nil, fmt.Errorf("witness key id does not match")
	}
	return &cosigner{parts[0], binary.BigEndian.Uint32(id), ed25519.PublicKey(raw[1:])}, nil
}

type tiles struct{ base string }

func (t *tiles) Height() int { return 8 }

func (t *tiles) ReadTiles(list []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(list))
	for i, tile := range list {
		// The Go checksum database names tiles tile/<H>/...; C2SP tlog-tiles drops <H>.
		path := strings.TrimPrefix(tile.Path(), "tile/8/")
		data, err := get(t.base + "/audit/tile/" + path)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (t *tiles) SaveTiles([]tlog.Tile, [][]byte) {}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: interop <url> <log key> <witness key>...")
	}
	base := strings.TrimRight(os.Args[1], "/")
	logVerifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("log key: %v", err)
	}
	verifiers := []note.Verifier{logVerifier}
	for _, k := range os.Args[3:] {
		c, err := newCosigner(k)
		if err != nil {
			fail("witness key: %v", err)
		}
		verifiers = append(verifiers, c)
	}
	msg, err := get(base + "/audit/checkpoint")
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		fail("note.Open: %v", err)
	}
	signed := map[string]bool{}
	for _, s := range n.Sigs {
		signed[s.Name] = true
	}
	for _, v := range verifiers {
		if !signed[v.Name()] {
			fail("no valid signature by %s", v.Name())
		}
	}
	lines := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 {
		fail("checkpoint size: %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint root: %v", err)
	}
	tree := tlog.Tree{N: size, Hash: root}
	reader := tlog.TileHashReader(tree, &tiles{base})
	got, err := tlog.TreeHash(size, reader)
	if err != nil || got != root {
		fail("tree hash from tiles: %v %v", got, err)
	}
	for _, i := range []int64{0, size / 2, size - 1} {
		leaf, err := reader.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err != nil {
			fail("leaf hash %d: %v", i, err)
		}
		proof, err := tlog.ProveRecord(size, i, reader)
		if err != nil {
			fail("prove record %d: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, size, root, i, leaf[0]); err != nil {
			fail("check record %d: %v", i, err)
		}
	}
	if size > 1 {
		old, err := tlog.TreeHash(size-1, reader)
		if err != nil {
			fail("old tree hash: %v", err)
		}
		proof, err := tlog.ProveTree(size, size-1, reader)
		if err != nil {
			fail("prove tree: %v", err)
		}
		if err := tlog.CheckTree(proof, size, root, size-1, old); err != nil {
			fail("check tree: %v", err)
		}
	}
	fmt.Printf("OK size=%d signatures=%d\n", size, len(n.Sigs))
}
