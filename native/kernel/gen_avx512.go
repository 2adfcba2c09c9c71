//go:build ignore

// gen_avx512.go holds the AVX-512 half of the generator of kernel_amd64.s
// (run with gen_amd64.go): the F32, BF16- and F16-panel micro-kernels, the
// VDPBF16PS kernels and the FMA and VDPBF16PS ceilings.
package main

import "fmt"

// avx512Kernels writes the AVX-512F micro-kernels: a rows×32 tile of C
// (rows = 1..12, two ZMM accumulators a row: up to 24 of the 32 registers)
// over rows of A read where they are (row-major, lda apart: no packed copy
// of A) and W panels of 32 columns (k-major). Per k step: two W vectors,
// one broadcast per row, two FMAs per row. Rows are addressed from three
// bases (rows 0–3, 4–7, 8–11), each with offsets 0, lda, 2·lda and 3·lda.
// With format bf16 the W panel holds bfloat16 (64 bytes a k step), widened
// exactly to float32 in the register (zero-extend, shift left 16); with f16
// it holds IEEE binary16, widened exactly by VCVTPH2PS (AVX-512F): half the
// memory and the same arithmetic as the float32 kernel.
func avx512Kernels(w func(string, ...any), format string) {
	const mr, nr = 12, 32
	suffix, bstep := "x32", 4*nr
	if format != "f32" {
		suffix, bstep = "x32"+format, 2*nr
	}
	loadB := func(off int, dst int) {
		switch format {
		case "bf16":
			w("\tVPMOVZXWD %d(DI), Z%d", off, dst)
			w("\tVPSLLD $16, Z%d, Z%d", dst, dst)
		case "f16":
			w("\tVCVTPH2PS %d(DI), Z%d", off, dst)
		default:
			w("\tVMOVUPS %d(DI), Z%d", off, dst)
		}
	}
	for rows := 1; rows <= mr; rows++ {
		name := fmt.Sprintf("kern%d%s", rows, suffix)
		nb := directArgs(w, name, rows, "k")
		for i := 0; i < 2*rows; i++ {
			w("\tVPXORD Z%d, Z%d, Z%d", i, i, i)
		}
		w("\tTESTQ CX, CX")
		w("\tJZ store%s%d", suffix, rows)
		w("\tMOVQ CX, R9")
		w("\tSHRQ $1, R9")
		w("\tJZ tail%s%d", suffix, rows)
		w("loop%s%d:", suffix, rows)
		w("\tPREFETCHT0 %d(DI)", 8*bstep)
		w("\tPREFETCHT0 %d(DI)", 8*bstep+64)
		for u := 0; u < 2; u++ {
			b0, b1 := 24+2*u, 25+2*u
			loadB(u*bstep, b0)
			loadB(u*bstep+bstep/2, b1)
			for i := 0; i < rows; i++ {
				r := 28 + (2*u+i)%4
				w("\tVBROADCASTSS %s, Z%d", rowAddr(i, 4*u), r)
				w("\tVFMADD231PS Z%d, Z%d, Z%d", b0, r, 2*i)
				w("\tVFMADD231PS Z%d, Z%d, Z%d", b1, r, 2*i+1)
			}
		}
		for _, base := range rowBases[:nb] {
			w("\tADDQ $8, %s", base)
		}
		w("\tADDQ $%d, DI", 2*bstep)
		w("\tDECQ R9")
		w("\tJNZ loop%s%d", suffix, rows)
		w("tail%s%d:", suffix, rows)
		w("\tANDQ $1, CX")
		w("\tJZ store%s%d", suffix, rows)
		loadB(0, 24)
		loadB(bstep/2, 25)
		for i := 0; i < rows; i++ {
			r := 28 + i%4
			w("\tVBROADCASTSS %s, Z%d", rowAddr(i, 0), r)
			w("\tVFMADD231PS Z24, Z%d, Z%d", r, 2*i)
			w("\tVFMADD231PS Z25, Z%d, Z%d", r, 2*i+1)
		}
		storeTile(w, fmt.Sprintf("%s%d", suffix, rows), rows, "Z", 64, 48)
	}
}

// rowBases hold the addresses of rows 0, 4 and 8 of A in the kernels that
// read A in place; R11 holds lda in bytes and R12 3·lda.
var rowBases = []string{"SI", "R13", "R10"}

// rowAddr is the address of A's row i (of up to 12) at byte offset off.
func rowAddr(i, off int) string {
	base := rowBases[i/4]
	switch i % 4 {
	case 1:
		return fmt.Sprintf("%d(%s)(R11*1)", off, base)
	case 2:
		return fmt.Sprintf("%d(%s)(R11*2)", off, base)
	case 3:
		return fmt.Sprintf("%d(%s)(R12*1)", off, base)
	}
	return fmt.Sprintf("%d(%s)", off, base)
}

// directArgs writes the header and argument loads of a kernel that reads
// A in place — func name(steps int, a *float32, lda int, b, c *float32,
// ldc int, acc int), lda in 4-byte units — and returns how many row bases
// its rows need.
func directArgs(w func(string, ...any), name string, rows int, steps string) int {
	nb := (rows + 3) / 4
	w("")
	w("// func %s(%s int, a *float32, lda int, b, c *float32, ldc int, acc int)", name, steps)
	w("TEXT ·%s(SB), NOSPLIT, $0-56", name)
	w("\tMOVQ %s+0(FP), CX", steps)
	w("\tMOVQ a+8(FP), SI")
	w("\tMOVQ lda+16(FP), R11")
	w("\tSHLQ $2, R11")
	w("\tLEAQ (R11)(R11*2), R12")
	if nb > 1 {
		w("\tLEAQ (SI)(R11*4), R13")
	}
	if nb > 2 {
		w("\tLEAQ (R13)(R11*4), R10")
	}
	w("\tMOVQ b+24(FP), DI")
	w("\tMOVQ c+32(FP), DX")
	w("\tMOVQ ldc+40(FP), R8")
	w("\tSHLQ $2, R8")
	return nb
}

// storeTile writes a kernel's end: from label store<tag>, the rows×2
// vector accumulators (registers 0..2·rows−1) are added to C when acc is
// set (label put<tag> skips that), then stored, rows ldc apart.
func storeTile(w func(string, ...any), tag string, rows int, reg string, width, accArg int) {
	w("store%s:", tag)
	w("\tMOVQ acc+%d(FP), R9", accArg)
	w("\tTESTQ R9, R9")
	w("\tJZ put%s", tag)
	w("\tMOVQ DX, R10")
	for i := 0; i < rows; i++ {
		w("\tVADDPS (R10), %s%d, %s%d", reg, 2*i, reg, 2*i)
		w("\tVADDPS %d(R10), %s%d, %s%d", width, reg, 2*i+1, reg, 2*i+1)
		if i < rows-1 {
			w("\tADDQ R8, R10")
		}
	}
	w("put%s:", tag)
	for i := 0; i < rows; i++ {
		w("\tVMOVUPS %s%d, (DX)", reg, 2*i)
		w("\tVMOVUPS %s%d, %d(DX)", reg, 2*i+1, width)
		if i < rows-1 {
			w("\tADDQ R8, DX")
		}
	}
	w("\tVZEROUPPER")
	w("\tRET")
}

// fmaPeak writes a register-only FMA loop (14 independent accumulators
// fed by two registers no FMA writes, 14 FMAs an iteration): the machine's
// FMA ceiling for BenchmarkFMAPeak, so every kernel figure can be read as a
// fraction of it.
func fmaPeak(w func(string, ...any), name, reg string) {
	w("")
	w("// func fmaPeak%s(n int)", name)
	w("TEXT ·fmaPeak%s(SB), NOSPLIT, $0-8", name)
	w("\tMOVQ n+0(FP), CX")
	for i := 0; i < 16; i++ {
		w("\tVXORPS %s%d, %s%d, %s%d", reg, i, reg, i, reg, i)
	}
	w("peak%s:", name)
	for i := 0; i < 14; i++ {
		w("\tVFMADD231PS %s15, %s14, %s%d", reg, reg, reg, i)
	}
	w("\tDECQ CX")
	w("\tJNZ peak%s", name)
	w("\tVZEROUPPER")
	w("\tRET")
}

// dpPeak writes the VDPBF16PS ceiling: the loop of fmaPeak with the
// dot-product instruction (each does 16 lanes × 2 products and their sums:
// 64 flops, twice an FMA's), for the avx512bf16 kernel's figures.
func dpPeak(w func(string, ...any)) {
	w("")
	w("// func dpPeakAVX512BF16(n int)")
	w("TEXT ·dpPeakAVX512BF16(SB), NOSPLIT, $0-8")
	w("\tMOVQ n+0(FP), CX")
	for i := 0; i < 16; i++ {
		w("\tVPXORD Z%d, Z%d, Z%d", i, i, i)
	}
	w("peakDP:")
	for i := 0; i < 14; i++ {
		w("\t%s", vdpbf16ps(i, 14, 15))
	}
	w("\tDECQ CX")
	w("\tJNZ peakDP")
	w("\tVZEROUPPER")
	w("\tRET")
}

// vdpbf16ps encodes VDPBF16PS zmm(src2), zmm(src1), zmm(dst) — dst.fp32[i]
// += src1.bf16[2i]·src2.bf16[2i] + src1.bf16[2i+1]·src2.bf16[2i+1] — as
// bytes: Go's assembler has no AVX512_BF16 mnemonics. EVEX.512.F3.0F38.W0
// 52 /r with register operands; the test compares every kernel using it
// with a float64 reference.
func vdpbf16ps(dst, src1, src2 int) string {
	inv := func(bit int) int { return 1 - bit }
	p0 := inv(dst>>3&1)<<7 | inv(src2>>4&1)<<6 | inv(src2>>3&1)<<5 | inv(dst>>4&1)<<4 | 0b10
	p1 := (^src1&0xf)<<3 | 1<<2 | 0b10
	p2 := 0b10<<5 | inv(src1>>4&1)<<3
	modrm := 0xc0 | (dst&7)<<3 | src2&7
	return fmt.Sprintf("BYTE $0x62; BYTE $0x%02x; BYTE $0x%02x; BYTE $0x%02x; BYTE $0x52; BYTE $0x%02x // VDPBF16PS Z%d, Z%d, Z%d",
		p0, p1, p2, modrm, src2, src1, dst)
}

// dpbf16Kernels writes the AVX-512 BF16 micro-kernels (--compute bf16): a
// rows×32 tile over pairs of k. The A panel holds, per pair of k steps,
// one 32-bit word per row (two bfloat16: k, k+1); the W panel holds per
// pair 32 columns × 2 bfloat16 (128 bytes). One broadcast per row and two
// VDPBF16PS per row and pair; float32 accumulators.
func dpbf16Kernels(w func(string, ...any)) {
	const mr = 12
	for rows := 1; rows <= mr; rows++ {
		name := fmt.Sprintf("kern%dx32dp", rows)
		nb := directArgs(w, name, rows, "kp")
		for i := 0; i < 2*rows; i++ {
			w("\tVPXORD Z%d, Z%d, Z%d", i, i, i)
		}
		w("\tTESTQ CX, CX")
		w("\tJZ storedp%d", rows)
		w("loopdp%d:", rows)
		w("\tPREFETCHT0 1024(DI)")
		w("\tPREFETCHT0 1088(DI)")
		w("\tVMOVDQU32 (DI), Z24")
		w("\tVMOVDQU32 64(DI), Z25")
		for i := 0; i < rows; i++ {
			r := 28 + i%4
			w("\tVPBROADCASTD %s, Z%d", rowAddr(i, 0), r)
			w("\t" + vdpbf16ps(2*i, r, 24))
			w("\t" + vdpbf16ps(2*i+1, r, 25))
		}
		for _, base := range rowBases[:nb] {
			w("\tADDQ $4, %s", base)
		}
		w("\tADDQ $128, DI")
		w("\tDECQ CX")
		w("\tJNZ loopdp%d", rows)
		storeTile(w, fmt.Sprintf("dp%d", rows), rows, "Z", 64, 48)
	}
}

// bf16Round writes the rounding of float32 to bfloat16 that
// bf16.FromFloat32 does (to nearest, ties to even; a NaN stays a quiet
// NaN; subnormals rounded, not flushed), 16 values a step with AVX-512F
// integer operations: the activations of --compute bf16, row-major, so
// that each pair of k is one 32-bit word.
func bf16Round(w func(string, ...any)) {
	w("")
	w("// func bf16RoundAVX512(dst *uint16, src *float32, n int) // n a multiple of 16")
	w("TEXT ·bf16RoundAVX512(SB), NOSPLIT, $0-24")
	w("\tMOVQ dst+0(FP), DI")
	w("\tMOVQ src+8(FP), SI")
	w("\tMOVQ n+16(FP), CX")
	for i, c := range []string{"0x7fff", "1", "0x7fffffff", "0x7f800000", "0x40"} {
		w("\tMOVL $%s, AX", c)
		w("\tVPBROADCASTD AX, Z%d", 10+i)
	}
	w("roundloop:")
	w("\tCMPQ CX, $16")
	w("\tJLT rounddone")
	w("\tVMOVDQU32 (SI), Z0 // b")
	w("\tVPSRLD $16, Z0, Z1")
	w("\tVPANDD Z11, Z1, Z2")
	w("\tVPADDD Z2, Z0, Z2")
	w("\tVPADDD Z10, Z2, Z2 // b + 0x7fff + (b>>16)&1")
	w("\tVPSRLD $16, Z2, Z2")
	w("\tVPANDD Z12, Z0, Z3")
	w("\tVPCMPUD $6, Z13, Z3, K1 // |b| > +Inf: NaN")
	w("\tVPORD Z14, Z1, Z4")
	w("\tVPBLENDMD Z4, Z2, K1, Z2")
	w("\tVPMOVDW Z2, Y5")
	w("\tVMOVDQU Y5, (DI)")
	w("\tADDQ $64, SI")
	w("\tADDQ $32, DI")
	w("\tSUBQ $16, CX")
	w("\tJMP roundloop")
	w("rounddone:")
	w("\tVZEROUPPER")
	w("\tRET")
}
