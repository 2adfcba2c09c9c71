;; The issue's reproduction: table.grow by ~2^32 entries in the score call
;; (wazero would allocate 32 GiB). Refused at upload: reference types are off.
(module
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "gptailor_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "gptailor_score") (param i32 i32) (result i32)
    (drop (table.grow $t (ref.null func) (i32.const -2)))
    (i32.const 0))
  (func (export "gptailor_result") (result f64) (f64.const 1))
  (func (export "gptailor_message") (result i64) (i64.const 0)))
