// Appended to a copy of the Snakemake report by tests/test_dag.py: drives the report app as a reader would (open every
// result's info panel, show every image result) and writes what the browser rendered into a pre element, id rwbench-probe.
window.addEventListener("load", function () {
    var probe = { front: "", results: {} };
    var paths = Object.keys(results);
    var i = 0;
    function finish() {
        var pre = document.createElement("pre");
        pre.id = "rwbench-probe";
        pre.textContent = JSON.stringify(probe);
        document.body.appendChild(pre);
    }
    function showNext() {
        if (i >= paths.length) { finish(); return; }
        var path = paths[i];
        var entry = results[path];
        app.showResultInfo(path);
        if (entry.mime_type.indexOf("image/") === 0) {
            app.setView({ content: "img", contentPath: entry.data_uri, resultPath: path });
        } else if (entry.mime_type === "text/html") {
            app.setView({ content: "html", contentPath: entry.data_uri, resultPath: path });
        }
        setTimeout(function () {
            var img = Array.prototype.find.call(document.images, function (im) { return im.src === entry.data_uri; });
            var frame = document.querySelector("iframe[src^='data:text/html']");
            probe.results[path] = {
                mime: entry.mime_type,
                panel: document.body.innerText.slice(0, 20000),
                image_width: img && img.complete ? img.naturalWidth : 0,
                inline_html: !!frame
            };
            i += 1;
            showNext();
        }, 200);
    }
    setTimeout(function () {
        probe.front = document.body.innerText;
        showNext();
    }, 500);
});
