// Package bf16 converts between float32 and bfloat16 (the top 16 bits of
// a float32): widening is exact; narrowing rounds to nearest, ties to even,
// and keeps NaN a NaN.
package bf16

import "math"

// FromFloat32 rounds x to the nearest bfloat16 and returns its bits.
func FromFloat32(x float32) uint16 {
	b := math.Float32bits(x)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it quiet and a NaN
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// ToFloat32 widens bfloat16 bits exactly.
func ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Round replaces every value of v by its nearest bfloat16, in place.
func Round(v []float32) {
	for i, x := range v {
		v[i] = ToFloat32(FromFloat32(x))
	}
}

// Exact says whether every value of v is a bfloat16 number.
func Exact(v []float32) bool {
	for _, x := range v {
		if math.Float32bits(x)&0xffff != 0 {
			return false
		}
	}
	return true
}
