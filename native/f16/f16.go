// Package f16 converts between float32 and IEEE 754 binary16 (half
// precision, the F16 of checkpoints): widening is exact; narrowing rounds
// to nearest, ties to even, with overflow to infinity and gradual
// underflow.
package f16

import "math"

// FromFloat32 rounds to the nearest IEEE binary16, ties to even, with
// overflow to infinity and gradual underflow.
func FromFloat32(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int((b >> 23) & 0xff)
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - e)
		half := man >> shift
		rem := man & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is correct (up to inf)
	}
	return sign | uint16(half)
}

// ToFloat32 converts an IEEE 754 binary16 value to float32 exactly.
func ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: value = man * 2^-24
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// Round replaces every value of v by its nearest binary16, in place.
func Round(v []float32) {
	for i, x := range v {
		v[i] = ToFloat32(FromFloat32(x))
	}
}

// Exact says whether every value of v is a binary16 number (as every value
// read from an F16 checkpoint is), so 16 bits hold it without loss.
func Exact(v []float32) bool {
	for _, x := range v {
		if ToFloat32(FromFloat32(x)) != x && x == x { // NaN != NaN: a NaN stays a NaN
			return false
		}
	}
	return true
}
