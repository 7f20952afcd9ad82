// Every protobuf string this process decodes must be valid UTF-8 (issue 15). By default the decoder
// replaces invalid bytes with U+FFFD, so a name sent as bytes that are not UTF-8 was silently
// rewritten — and two different byte names could become the same name. With this module loaded
// (common/rpc.ts loads it, so every server and client does), such a message is refused whole
// (grpc-js answers a request it cannot decode with an error; nothing is created or renamed).
import { configureTextEncoding, getTextEncoding } from '@bufbuild/protobuf/wire';

const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const base = getTextEncoding();

configureTextEncoding({
  ...base,
  decodeUtf8(bytes: Uint8Array): string {
    try {
      return strictDecoder.decode(bytes);
    } catch {
      throw new Error('a string field is not valid UTF-8 (names are never rewritten: send them as UTF-8)');
    }
  },
});
