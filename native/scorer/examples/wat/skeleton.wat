;; The smallest module that satisfies gptailor's scorer ABI, in hand-written
;; WebAssembly text, as a starting point for other languages. It accepts
;; documents up to 1 MiB and scores every candidate 1.0; a larger document is
;; refused with error code 1 and a message.
;; Build: wat2wasm skeleton.wat -o skeleton.wasm
(module
  (memory (export "memory") 1)
  (global $result (mut f64) (f64.const 0))
  (data (i32.const 16) "document larger than 1 MiB")  ;; 26 bytes
  ;; The document goes at 1024, in as many pages as it needs.
  (func (export "gptailor_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need (i32.sub
      (i32.shr_u (i32.add (local.get $size) (i32.const 66559)) (i32.const 16))  ;; pages for 1024 + size
      (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (drop (memory.grow (local.get $need)))))
    (i32.const 1024))
  (func (export "gptailor_score") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.gt_u (local.get $len) (i32.const 1048576))
      (then (return (i32.const 1))))
    (global.set $result (f64.const 1))
    (i32.const 0))
  (func (export "gptailor_result") (result f64) (global.get $result))
  (func (export "gptailor_message") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 26))))
