"""The exported model on the test split: a confusion matrix and per-class scores for a
classifier, predicted against true values for a regressor."""

from __future__ import annotations

from automl.results.report.plotting import COMPLETE, Context, Figure, pyplot, save_png, style


def confusion(ctx: Context) -> list[Figure]:
    """Confusion matrix and per-class precision/recall/F1 of the best model on the test split."""
    import html

    import numpy as np
    import plotly.graph_objects as go

    preds = ctx.predictions
    assert preds is not None
    labels = preds.labels()
    matrix = preds.confusion()
    fig = Figure(
        "confusion_matrix",
        "Confusion matrix (test split)",
        f"Rows: true class; columns: predicted class; {len(preds.y_true)} test samples, "
        f"accuracy {preds.accuracy():.4f}.",
    )
    fig.plotly = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} samples<extra></extra>",
        )
    )
    style(fig.plotly, fig.title, 200 + 35 * len(labels))
    fig.plotly.update_yaxes(autorange="reversed", title="true", type="category")
    fig.plotly.update_xaxes(title="predicted", type="category")
    plt = pyplot()
    side = 2.5 + 0.45 * len(labels)
    with plt.style.context("default"):
        figure, ax = plt.subplots()
        ax.imshow(matrix, cmap="Blues")
        ticks = np.arange(len(labels))
        ax.set_xticks(ticks, labels, rotation=45 if max(map(len, labels)) > 3 else 0, ha="right")
        ax.set_yticks(ticks, labels)
        high = matrix.max() if matrix.size else 0
        for i in range(len(labels)):
            for j in range(len(labels)):
                colour = "white" if matrix[i, j] > high / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(fig.title)
        fig.png = save_png(figure, ctx.out_dir / "confusion_matrix.png", (side + 1, side))

    per_class = preds.per_class()
    table = Figure(
        "per_class",
        "Per-class precision, recall and F1 (test split)",
        "Macro averages in the last row.",
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(r['class']))}</td><td>{r['support']}</td>"
        + "".join(f"<td>{r[k]:.3f}</td>" for k in ("precision", "recall", "f1"))
        + "</tr>"
        for r in per_class
    )
    table.html = (
        "<table><thead><tr><th>class</th><th>support</th><th>precision</th><th>recall</th>"
        f"<th>F1</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    classes = [str(r["class"]) for r in per_class]
    keys = ("precision", "recall", "f1")
    bars = [go.Bar(name=k, x=classes, y=[r[k] for r in per_class]) for k in keys]
    table.plotly = style(go.Figure(bars), table.title, 420)
    table.plotly.update_layout(barmode="group", yaxis={"range": [0, 1.05]})
    table.plotly.update_xaxes(type="category")
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        x = np.arange(len(classes))
        for i, key in enumerate(("precision", "recall", "f1")):
            ax.bar(x + (i - 1) * 0.27, [r[key] for r in per_class], 0.27, label=key)
        tilt = max(map(len, classes[:-1]), default=0) > 3  # long class names, not "macro avg"
        ax.set_xticks(x, classes, rotation=30 if tilt else 0, ha="right" if tilt else "center")
        ax.set_ylim(0, 1.15)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_title(table.title)
        ax.legend(loc="upper center", ncol=3, fontsize=9)
        fig_width = max(6.0, 0.55 * len(classes) + 2)
        table.png = save_png(figure, ctx.out_dir / "per_class.png", (fig_width, 4))
    return [fig, table]


def predicted_vs_true(ctx: Context) -> list[Figure]:
    """Predicted against true values of the best model on the test split."""
    import plotly.graph_objects as go

    preds = ctx.predictions
    assert preds is not None
    y, p = preds.y_true, preds.y_pred
    scores = preds.regression_scores()
    fig = Figure(
        "predicted_vs_true",
        "Predicted vs true (test split)",
        f"{len(y)} test samples; RMSE {scores['rmse']:.4g}, MAE {scores['mae']:.4g}, "
        f"R² {scores['r2']:.3f}. The diagonal is a perfect prediction.",
    )
    low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    fig.plotly = go.Figure(
        [
            go.Scatter(x=y, y=p, mode="markers", name="test samples", opacity=0.7),
            go.Scatter(
                x=[low, high], y=[low, high], mode="lines", name="y = x", line={"dash": "dash"}
            ),
        ]
    )
    style(fig.plotly, fig.title, 500)
    fig.plotly.update_xaxes(title="true")
    fig.plotly.update_yaxes(title="predicted", scaleanchor="x")
    plt = pyplot()
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        ax.scatter(y, p, s=14, alpha=0.7, color=COMPLETE, label="test samples")
        ax.plot([low, high], [low, high], "--", color="black", linewidth=1, label="y = x")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(fig.title)
        ax.legend(loc="upper left", fontsize=9)
        fig.png = save_png(figure, ctx.out_dir / "predicted_vs_true.png", (6, 6))
    return [fig]
