;; Fails with a message full of terminal control sequences.
(module
  (memory (export "memory") 1)
  (data (i32.const 64) "\1b[2J\1b[31mpwned\0d\0aline2\00end")
  (func (export "gptailor_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "gptailor_score") (param i32 i32) (result i32) (i32.const 7))
  (func (export "gptailor_result") (result f64) (f64.const 1))
  (func (export "gptailor_message") (result i64) (i64.const 274877906969)))
