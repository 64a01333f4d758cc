// Runs local-aws-sqs, the SQS stand-in, on 127.0.0.1 and prints
// "listening PORT" once it accepts requests.
//
//   node server.js MODULE_DIR PORT     (PORT 0 picks a free port)
//
// local-aws-sqs 2.0.2 counts every ChangeMessageVisibility as one more
// receive (ApproximateReceiveCount + 1). Real SQS does not: there a heartbeat
// or a retry delay does not use up one of the task's 3 deliveries. The
// module is loaded with that one line corrected, and refuses to start if the
// line is not found (another version).
"use strict";
const fs = require("fs");
const path = require("path");
const Module = require("module");

const [dir, port] = process.argv.slice(2);
const file = path.join(dir, "dist", "index.js");
const counted = "return l(this,D,Wt).call(this,r,n,!0),!0}";
const uncounted =
  "return r.record.attributes.ApproximateReceiveCount=String(Number(r.record.attributes.ApproximateReceiveCount)-1)," +
  "l(this,D,Wt).call(this,r,n,!0),!0}";
const source = fs.readFileSync(file, "utf8");
if (source.split(counted).length !== 2) {
  console.error(`sqstest: ${file} is not the local-aws-sqs 2.0.2 this launcher corrects; install local-aws-sqs@2.0.2`);
  process.exit(2);
}
const sqs = new Module(file, module);
sqs.filename = file;
sqs.paths = Module._nodeModulePaths(path.dirname(file));
sqs._compile(source.replace(counted, uncounted), file);

sqs.exports
  .createSqsServer({ port: Number(port || 0), hostname: "127.0.0.1", emulateQueueCreationLifecycle: false })
  .then((server) => console.log("listening " + server.address().port));
