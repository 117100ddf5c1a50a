# One image for web (daphne), worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=offchat_backend.settings.production

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings to load, not real secrets. /run/prometheus is for an HTTP-only deployment
# under gunicorn (README): its PROMETHEUS_MULTIPROC_DIR, written by workers running as app.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 app && chown -R app /app \
    && install -d -o app -g app -m 0700 /run/prometheus
USER app

EXPOSE 8000
CMD ["daphne", "--bind", "0.0.0.0", "--port", "8000", "--access-log", "-", "offchat_backend.asgi:application"]
